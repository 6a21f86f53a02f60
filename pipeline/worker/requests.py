"""What the bot asks a worker to render, and what comes back. Shared by both processes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# character reference images a request carries at most (the bot sends, the engines take these)
MAX_REFERENCES = 4


@dataclass(frozen=True)
class RenderRequest:
    """One shot to render as len(seeds) takes. The job id is the idempotency key."""

    job_id: str
    engine: str  # "animatic" or "diffusers"
    prompt: str
    seeds: tuple[int, ...]
    duration: float  # seconds of the finished clip
    width: int = 720
    height: int = 1280
    fps: int = 24
    model: str = ""  # Hugging Face id or local folder; empty for engines that need none
    negative_prompt: str = ""
    heading: str = ""  # e.g. "Ep 1 · Scene 2 · Shot 3", drawn on storyboard cards
    description: str = ""
    camera: str = ""
    dialogue: str = ""
    steps: int = 20
    # "keyframe": stills only, for keyframe-first review; "clip": keyframe, then a clip from it
    output: str = "clip"
    video_model: str = ""  # image-to-video / text-to-video model for the clip stage, if any
    init_image: str = ""  # base64 PNG: approved keyframe or previous shot's last frame
    reference_images: tuple[str, ...] = ()  # base64 PNGs of the characters in the shot
    max_draft_bytes: int = 8 * 1024 * 1024  # every draft MP4 must fit this
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["reference_images"] = list(self.reference_images)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderRequest:
        known = {name for name in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        values["seeds"] = tuple(int(seed) for seed in values.get("seeds", ()))
        references = values.get("reference_images", ())
        values["reference_images"] = tuple(str(image) for image in references)
        return cls(**values)


@dataclass(frozen=True)
class RenderedTake:
    """One finished take: an H.264 MP4 of the requested size and duration, plus a still."""

    seed: int
    media_path: str
    preview_path: str
    # what the engine decided on its own, stored with the take (e.g. references it could not use)
    parameters: dict[str, Any] = field(default_factory=dict)
