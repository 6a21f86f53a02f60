"""Character reference images: stored as PNG under ids, sent to workers small and base64.

Bot side (no torch): the /character cog stores them, build_render_request sends them.
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from storage.errors import InvalidInput

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_STORED_SIDE = 1024  # what is kept on disk
# what a worker gets: IP-Adapter image encoders see 224 px, so more is only bytes
SENT_SIDE = 384
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding


def reference_path(media_dir: Path, character_id: int) -> Path:
    """Where character_id's reference lives: named by id, never by the uploaded file's name."""
    return media_dir / "characters" / f"{character_id}.png"


def read_upload(data: bytes, label: str) -> Image.Image:
    """An uploaded image as RGB; InvalidInput (naming label) when it is not one or too big."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"{label} is over {MAX_UPLOAD_BYTES // 2**20} MiB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InvalidInput(f"{label} is {image.width}x{image.height}: too big.")
                return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, ValueError):
        raise InvalidInput(f"{label} is not an image I can read (PNG, JPEG or WebP).") from None


def store_reference(image: Image.Image, media_dir: Path, character_id: int) -> Path:
    """Write image, shrunk to MAX_STORED_SIDE, as the character's reference PNG (atomically)."""
    image = image.convert("RGB")
    image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE))
    out = reference_path(media_dir, character_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.partial.png")
    try:
        image.save(partial, format="PNG")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def encode_reference(path: str | Path, side: int = SENT_SIDE) -> str | None:
    """The reference as a base64 PNG at most side px a side, or None when it is unreadable."""
    try:
        with Image.open(path) as image:
            small = image.convert("RGB")
    except (OSError, UnidentifiedImageError):
        return None
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
