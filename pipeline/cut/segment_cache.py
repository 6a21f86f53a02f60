"""The segment cache: each normalised segment (segments.py) made once, kept while used.

A sidecar JSON with the segment's size and SHA-256 is written after the segment itself: a
segment without a valid sidecar is rebuilt. The cache keeps at most max_bytes: prune() deletes
the least recently used segments beyond it (a deleted segment is only re-encoded when a cut
needs it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.ffmpeg import ffmpeg_binary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    path: Path
    # the streams as ffmpeg describes them, bitrates left out: segments whose signatures are
    # equal can be joined by stream copy
    signature: str


LEFTOVER_SECONDS = 3600


class SegmentCache:
    """Segments under `root`, made at most `parallel` at a time, each key made once."""

    def __init__(self, root: Path, parallel: int = 2, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.parallel = parallel
        self.max_bytes = max_bytes
        self._slots: asyncio.Semaphore | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.encoded = 0  # segments made by this cache object
        self.reused = 0  # segments found already made

    def path(self, key: str) -> Path:
        return self.root / f"{key}.mov"

    def has(self, key: str) -> bool:
        """Whether a segment for key was completed (cheap: its file is verified on use)."""
        return self.path(key).with_suffix(".json").exists()

    def lookup(self, key: str) -> Segment | None:
        """The segment for key when its file is whole; a damaged one is deleted (None)."""
        path, sidecar = self.path(key), self.path(key).with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            if path.stat().st_size == meta["bytes"] and _sha256(path) == meta["sha256"]:
                os.utime(sidecar)  # the sidecar's mtime is the segment's last use (see prune)
                return Segment(path, meta["signature"])
        except FileNotFoundError:
            if not path.exists():
                return None
        except (OSError, ValueError, KeyError, TypeError):
            pass
        log.warning("segment %s is damaged or incomplete: rebuilding it", path.name)
        path.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        return None

    async def get(self, key: str, make: Callable[[Path], Awaitable[None]]) -> Segment:
        """The cached segment for key, or one made now by `make(partial_path)`."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # hashing a segment reads the whole file: off the event loop (the bot runs cuts)
            found = await asyncio.to_thread(self.lookup, key)
            if found is not None:
                self.reused += 1
                return found
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.parallel)
            async with self._slots:
                segment = await self._make(key, make)
            self.encoded += 1
            return segment

    def prune(self) -> int:
        """Delete the least recently used complete segments until the cache holds at most
        max_bytes; the number deleted. Leftovers of a process killed mid-segment (partial
        files, a segment without its sidecar) go once they are an hour old; younger ones may
        be a segment being made right now."""
        if self.max_bytes is None or not self.root.is_dir():
            return 0
        stale = time.time() - LEFTOVER_SECONDS
        for path in self.root.iterdir():
            orphan = path.suffix == ".mov" and not path.with_suffix(".json").exists()
            if orphan or ".partial." in path.name:
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < stale:
                        path.unlink()
        entries = []
        for sidecar in self.root.glob("[!.]*.json"):
            segment = sidecar.with_suffix(".mov")
            try:
                entries.append((sidecar.stat().st_mtime, segment.stat().st_size, segment))
            except FileNotFoundError:
                continue  # deleted meanwhile, or a sidecar without its segment (rebuilt on use)
        total = sum(size for _, size, _ in entries)
        deleted = 0
        for _, size, segment in sorted(entries):
            if total <= self.max_bytes:
                break
            # sidecar first: a segment without its sidecar is never used
            segment.with_suffix(".json").unlink(missing_ok=True)
            segment.unlink(missing_ok=True)
            total -= size
            deleted += 1
        if deleted:
            log.info("segment cache: %d least recently used segments deleted", deleted)
        return deleted

    async def _make(self, key: str, make: Callable[[Path], Awaitable[None]]) -> Segment:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        partial = path.with_name(f".{key}.{token}.partial.mov")
        partial_meta = path.with_name(f".{key}.{token}.partial.json")
        try:
            await make(partial)
            signature = stream_signature(await read_header(partial))
            meta = {
                "bytes": partial.stat().st_size,
                "sha256": await asyncio.to_thread(_sha256, partial),
            }
            partial_meta.write_text(json.dumps({**meta, "signature": signature}), "utf-8")
            # the sidecar goes last: a segment is complete only once its sidecar exists
            os.replace(partial, path)
            os.replace(partial_meta, path.with_suffix(".json"))
        finally:
            partial.unlink(missing_ok=True)
            partial_meta.unlink(missing_ok=True)
        return Segment(path, signature)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def read_header(path: Path) -> str:
    """ffmpeg's description of a media file (its stream lines), without decoding it."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()  # exits 1: no output file was given
    return stderr.decode("utf-8", "replace")


def stream_signature(header: str) -> str:
    streams = re.findall(r"Stream #\d+:\d+\S*: (.*)", header)
    return "\n".join(re.sub(r", \d+ kb/s|\s*\(default\)", "", line).strip() for line in streams)
