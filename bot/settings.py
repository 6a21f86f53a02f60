"""All configuration, from the environment or a .env file. Read once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.render.queue import MAX_QUEUED_PER_USER
from pipeline.worker.settings import WorkerSettings
from storage.errors import InvalidInput


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"

    # LLM: any OpenAI-compatible endpoint; empty base URL = the embedded local model
    openai_base_url: str = ""
    openai_api_key: SecretStr = SecretStr("")
    showrunner_llm_model: str = "gpt-4o-mini"
    showrunner_agent_mode: Literal["auto", "tools", "structured"] = "auto"
    showrunner_llm_timeout: float = 120.0

    # Rendering
    # the Ray cluster the render actors run on (HEAD:6379); empty: a local Ray started here
    showrunner_ray_address: str = ""
    # render actors: empty for one per GPU in the cluster (one on the CPU when it has none);
    # 0 for none (the bot plans and cuts, nothing renders)
    showrunner_render_actors: int | None = Field(default=None, ge=0, le=64)
    showrunner_engine: Literal["animatic", "diffusers", "video"] = "animatic"
    showrunner_model: str = ""
    # the "video" engine's image-to-video / text-to-video model (HF id or local folder)
    showrunner_video_model: str = "Lightricks/LTX-Video"
    # the score's text-to-music model (ACE-Step, HF id or local folder); empty: composed in code
    showrunner_music_model: str = ""
    showrunner_takes: int = Field(default=1, ge=1, le=4)
    showrunner_steps: int = Field(default=20, ge=1, le=100)
    showrunner_max_queued_per_user: int = Field(default=MAX_QUEUED_PER_USER, ge=1)
    showrunner_width: int = 720
    showrunner_height: int = 1280
    showrunner_fps: int = 24
    # every draft MP4 a worker returns fits this (Discord's smallest upload limit is 10 MiB)
    showrunner_max_draft_mib: float = Field(default=8, gt=0.0625, le=500)
    # the render actors' (pipeline/worker/settings.py, which checks them): handed to the actors
    # the bot starts; an empty device is the actor's GPU, else the CPU
    showrunner_device: str = ""
    showrunner_torch_threads: str = ""
    showrunner_max_models: str = ""
    showrunner_dtype: str = ""
    showrunner_cpu_offload: str = ""
    showrunner_vae_tiling: str = ""
    showrunner_compile: str = ""
    showrunner_ip_adapter: str = ""
    showrunner_speech_model: str = ""

    # Files
    showrunner_data_dir: Path = Path("data")
    # normalised shots kept for fast re-cuts (media/cache), least recently used deleted beyond it
    showrunner_cut_cache_mib: float = Field(default=4096, ge=0)
    ffmpeg_binary: str = ""
    showrunner_log_level: str = "INFO"

    @field_validator("showrunner_render_actors", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def worker_settings(self) -> WorkerSettings:
        """The settings of the render actors the bot starts; InvalidInput names a bad one."""
        names = (
            "device", "torch_threads", "max_models", "dtype", "cpu_offload", "vae_tiling",
            "compile", "ip_adapter", "speech_model",
        )  # fmt: skip
        env = {f"SHOWRUNNER_{name.upper()}": getattr(self, f"showrunner_{name}") for name in names}
        env["FFMPEG_BINARY"] = self.ffmpeg_binary
        try:
            return WorkerSettings.from_env(env)
        except ValueError as error:
            raise InvalidInput(f"{error} (see .env.example)") from None

    @property
    def database_path(self) -> Path:
        return self.showrunner_data_dir / "showrunner.db"

    @property
    def max_draft_bytes(self) -> int:
        return int(self.showrunner_max_draft_mib * 1024 * 1024)

    @property
    def cut_cache_bytes(self) -> int:
        return int(self.showrunner_cut_cache_mib * 1024 * 1024)

    @property
    def media_dir(self) -> Path:
        return self.showrunner_data_dir / "media"

    @property
    def uses_embedded_llm(self) -> bool:
        return not self.openai_base_url and not self.openai_api_key.get_secret_value()
