"""What a render job stores about itself: engine, models, format and seeds, typed.

The jobs table keeps it as JSON; a job stored by an older version reads back with defaults
for what it did not store, and keys this version does not know are ignored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.worker.requests import RenderRequest
from storage.models import Job

KEYFRAME = "keyframe"  # stills only, for keyframe-first review
CLIP = "clip"  # a finished clip (from an approved keyframe, when source_take_id is set)


@dataclass(frozen=True)
class RenderPayload:
    engine: str
    seeds: tuple[int, ...]
    width: int
    height: int
    fps: int
    model: str = ""
    video_model: str = ""
    output: str = CLIP
    steps: int = 20
    max_draft_bytes: int = RenderRequest.max_draft_bytes
    revision: int = 0  # the shot's revision the job renders
    source_take_id: int | None = None  # the approved keyframe a clip starts from

    @classmethod
    def of(cls, job: Job) -> RenderPayload:
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in job.payload.items() if key in known}
        values["seeds"] = tuple(int(seed) for seed in values.get("seeds", ()))
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["seeds"] = list(self.seeds)
        if self.source_take_id is None:
            del values["source_take_id"]
        return values

    def clip_from(self, take_id: int, seed: int) -> RenderPayload:
        """The clip of an approved keyframe take: its seed, starting from its still."""
        return dataclasses.replace(self, output=CLIP, seeds=(seed,), source_take_id=take_id)

    def models(self) -> tuple[str, str, str]:
        """The engine and models the job loads on its worker: a clip from an approved
        keyframe skips the keyframe stage and its model; stills need no video model."""
        model = "" if self.source_take_id is not None else self.model
        video = "" if self.output == KEYFRAME else self.video_model
        return (self.engine, model, video)
