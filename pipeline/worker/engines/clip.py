"""Turn one still into a short H.264 clip with a slow camera move (push-in, pull-out, pans)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from pipeline.ffmpeg import run_ffmpeg

MOVES = ("push-in", "pull-out", "pan-left", "pan-right", "pan-up", "pan-down", "static")

# How far the camera travels: the end zoom of a push-in, the fixed zoom of a pan.
_ZOOM = 1.12


def _corners(move: str, width: int, height: int, frames: int) -> dict[str, str]:
    """perspective-filter expressions for the source rectangle shown at each frame.

    perspective interpolates sub-pixel positions, which keeps slow moves free of the 1-pixel
    stepping that zoompan and crop show.
    """
    last = max(frames - 1, 1)
    p = f"min(in/{last},1)"
    ease = f"({p}*{p}*(3-2*{p}))"  # smoothstep: starts and stops gently
    full_w, full_h = width, height
    tight_w, tight_h = width / _ZOOM, height / _ZOOM

    if move in ("push-in", "pull-out"):
        span = ease if move == "push-in" else f"(1-{ease})"
        # region size shrinks linearly from full to tight as span goes 0 -> 1
        rw = f"({full_w}-{full_w - tight_w:.4f}*{span})"
        rh = f"({full_h}-{full_h - tight_h:.4f}*{span})"
        x0 = f"(({full_w}-{rw})/2)"
        y0 = f"(({full_h}-{rh})/2)"
    else:
        rw, rh = f"{tight_w:.4f}", f"{tight_h:.4f}"
        free_x, free_y = full_w - tight_w, full_h - tight_h
        x0, y0 = f"{free_x / 2:.4f}", f"{free_y / 2:.4f}"
        if move == "pan-right":
            x0 = f"({free_x:.4f}*{ease})"
        elif move == "pan-left":
            x0 = f"({free_x:.4f}*(1-{ease}))"
        elif move == "pan-down":
            y0 = f"({free_y:.4f}*{ease})"
        else:  # pan-up
            y0 = f"({free_y:.4f}*(1-{ease}))"

    x1 = f"({x0}+{rw})"
    y2 = f"({y0}+{rh})"
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y0, "x2": x0, "y2": y2, "x3": x1, "y3": y2}


def still_to_clip(
    image_path: Path,
    out_path: Path,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int,
    move: str = "push-in",
) -> None:
    """Write an H.264 MP4 of width x height and round(duration*fps) frames, no audio."""
    if move not in MOVES:
        raise ValueError(f"unknown camera move {move!r}; expected one of {', '.join(MOVES)}")
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if fps < 1:
        raise ValueError(f"fps must be at least 1, got {fps}")
    frames = round(duration * fps)
    if frames < 1:
        raise ValueError(f"duration {duration} gives no frames at {fps} fps")

    video = (
        ffmpeg.input(str(image_path), framerate=fps)
        .filter("scale", w=width, h=height, force_original_aspect_ratio="increase")
        .filter("crop", w=width, h=height)
        .filter("setsar", r=1)
        .filter("format", pix_fmts="yuv420p")
        # decode and scale the still once, then repeat that frame in memory
        .filter("loop", loop=frames - 1, size=1, start=0)
        .filter("setpts", expr=f"N/({fps}*TB)")
    )
    if move != "static":
        corners = _corners(move, width, height, frames)
        video = video.filter("perspective", eval="frame", **corners)
    stream = ffmpeg.output(
        video,
        str(out_path),
        an=None,
        r=fps,
        **{
            "frames:v": frames,
            "c:v": "libx264",
            "preset": "veryfast",
            "crf": 23,
            "profile:v": "high",
            "pix_fmt": "yuv420p",
            "movflags": "+faststart",
            "f": "mp4",
        },
    )
    run_ffmpeg(ffmpeg.get_args(stream))
