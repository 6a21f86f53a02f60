"""Cutting an episode when things go wrong: a full disk, damaged takes, two cut requests at once.

A full disk is simulated for real: the ffmpeg subprocess runs under RLIMIT_FSIZE, so its writes
fail with EFBIG exactly where a full disk would fail them with ENOSPC.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import threading
from pathlib import Path

import pytest
import sqlite_utils

import pipeline.cut.assemble
import pipeline.cut.cards
import pipeline.cut.segments
import pipeline.delivery.jobs as delivery_jobs
from pipeline import workflow
from pipeline.cut.assemble import CutShot, cut_episode
from pipeline.delivery.jobs import DeliveryPayload
from pipeline.errors import AssembleError, DiskFullError, FfmpegError
from pipeline.ffmpeg import probe, run_ffmpeg, run_ffmpeg_async
from pipeline.render.queue import queue_episode_cut
from pipeline.render.scheduler import Scheduler, run_until_idle
from storage import episodes, events, jobs
from storage.db import open_db
from tests.builders import approved_episode
from tests.media import clips

SMALL = {"width": 180, "height": 320}
PREVIOUS = {".mp4": b"previous cut", ".srt": b"previous subtitles", ".png": b"previous poster"}


def make_take(path: Path, seconds: float = 1.0, source: str = "testsrc") -> Path:
    run_ffmpeg(
        [
            "-f", "lavfi",
            "-i", f"{source}=size=180x320:rate=24:duration={seconds}",
            "-c:v", "libx264",
            "-pix_fmt", "yuv420p",
            # as the engines write them: the index first, so a truncated copy still opens
            "-movflags", "+faststart",
            str(path),
        ]
    )  # fmt: skip
    return path


@pytest.fixture
def shots(tmp_path: Path) -> list[CutShot]:
    return [
        CutShot(make_take(tmp_path / "a.mp4"), 1.0, "Where were you?", "Shot 1"),
        CutShot(make_take(tmp_path / "b.mp4", source="testsrc2"), 1.0, "", "Shot 2"),
        CutShot(make_take(tmp_path / "c.mp4"), 1.0, "我一直在等你。", "Shot 3"),
    ]


@pytest.fixture
def previous_cut(tmp_path: Path) -> Path:
    out = tmp_path / "cut" / "episode.mp4"
    out.parent.mkdir()
    for suffix, content in PREVIOUS.items():
        out.with_suffix(suffix).write_bytes(content)
    return out


def assert_previous_cut_intact(out: Path) -> None:
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == {
        out.with_suffix(suffix).name: content for suffix, content in PREVIOUS.items()
    }  # the old files, byte for byte, and no partial file beside them


def limit_ffmpeg(monkeypatch: pytest.MonkeyPatch, max_bytes: int, only: str | None = None) -> None:
    """Run the cut's ffmpeg calls (or those with `only` among their arguments) under a cap."""

    async def limited(args: list[str]) -> str:
        if only is None or only in args:
            return await run_ffmpeg_async(args, max_file_bytes=max_bytes)
        return await run_ffmpeg_async(args)

    for module in (pipeline.cut.assemble, pipeline.cut.segments, pipeline.cut.cards):
        monkeypatch.setattr(module, "run_ffmpeg_async", limited)


# ---------------------------------------------------------------------------------------------
# a full disk


async def test_file_size_cap_fails_ffmpeg_like_a_full_disk(tmp_path: Path) -> None:
    out = tmp_path / "big.mp4"
    limits_before = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler_before = signal.getsignal(signal.SIGXFSZ)

    with pytest.raises(DiskFullError, match=r"ffmpeg ran out of disk space \(\d+\)"):
        await run_ffmpeg_async(
            ["-f", "lavfi", "-i", "testsrc2=size=320x240:duration=2", "-c:v", "libx264", str(out)],
            max_file_bytes=16_384,
        )

    assert out.stat().st_size <= 16_384
    # the cap and the signal disposition were set in the child only
    assert resource.getrlimit(resource.RLIMIT_FSIZE) == limits_before
    assert signal.getsignal(signal.SIGXFSZ) == handler_before


async def test_ffmpeg_killed_by_sigxfsz_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what an ffmpeg that does not ignore SIGXFSZ does when it passes the cap
    binary = tmp_path / "ffmpeg"
    binary.write_text("#!/bin/sh\nkill -XFSZ $$\n")
    binary.chmod(0o755)
    monkeypatch.setenv("FFMPEG_BINARY", str(binary))

    with pytest.raises(DiskFullError, match=f"out of disk space \\(-{int(signal.SIGXFSZ)}\\)"):
        await run_ffmpeg_async(["-version"])


async def test_other_ffmpeg_failures_are_not_a_full_disk(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError) as raised:
        await run_ffmpeg_async(["-i", str(tmp_path / "nothing.mp4"), "-f", "null", "-"])
    assert not isinstance(raised.value, DiskFullError)


async def test_disk_full_during_the_cut_keeps_the_previous_cut(
    shots: list[CutShot], previous_cut: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit_ffmpeg(monkeypatch, 8_192)

    with pytest.raises(AssembleError, match=r"not enough disk space to write the cut episode\.mp4"):
        await cut_episode(shots, previous_cut, **SMALL)

    assert_previous_cut_intact(previous_cut)


async def test_disk_full_while_writing_the_poster_keeps_the_previous_cut(
    shots: list[CutShot], previous_cut: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the new video is complete by then: it must not replace the old one either
    limit_ffmpeg(monkeypatch, 1_024, only="image2")

    with pytest.raises(AssembleError, match="not enough disk space"):
        await cut_episode(shots, previous_cut, **SMALL)

    assert_previous_cut_intact(previous_cut)


async def test_cut_succeeds_under_a_cap_it_fits_in(
    shots: list[CutShot], previous_cut: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit_ffmpeg(monkeypatch, 50 * 1024 * 1024)

    out = await cut_episode(shots, previous_cut, **SMALL)

    assert out.read_bytes()[4:8] == b"ftyp"
    info = probe(out)  # the new cut, whole: every shot, at the frame asked for
    assert (info.width, info.height, info.video_codec) == (180, 320, "h264")
    assert abs(info.duration - sum(shot.duration for shot in shots)) <= 0.2
    subtitles = out.with_suffix(".srt").read_text()
    assert "Where were you?" in subtitles and "我一直在等你。" in subtitles
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "episode.mp4", "episode.png", "episode.srt"
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# damaged takes


def truncate(path: Path) -> None:
    # an interrupted download: the index (at the front) promises frames that are not there
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, garble])
async def test_damaged_take_names_the_shot_and_stops_the_cut(
    shots: list[CutShot], previous_cut: Path, damage
) -> None:
    damage(shots[1].media_path)

    with pytest.raises(AssembleError, match=r"^Shot 2: take file b\.mp4 is unreadable"):
        await cut_episode(shots, previous_cut, **SMALL)

    assert_previous_cut_intact(previous_cut)


async def test_missing_take_names_the_shot(shots: list[CutShot], previous_cut: Path) -> None:
    shots[2].media_path.unlink()

    with pytest.raises(AssembleError, match=r"^Shot 3: take file c\.mp4 is missing"):
        await cut_episode(shots, previous_cut, **SMALL)

    assert_previous_cut_intact(previous_cut)


async def test_a_still_image_take_passes_the_check(tmp_path: Path) -> None:
    still = tmp_path / "keyframe.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=180x320", "-frames:v", "1", str(still)])

    out = await cut_episode([CutShot(still, 0.5, "Hi.")], tmp_path / "episode.mp4", **SMALL)

    assert out.is_file()


# ---------------------------------------------------------------------------------------------
# two cut requests for one episode


def assemble_jobs(db: sqlite_utils.Database, episode_id: int) -> list[str]:
    return [
        row["status"]
        for row in db.table("jobs").rows_where("episode_id = ? AND kind = 'assemble'", [episode_id])
    ]


def test_asking_twice_queues_one_cut(fresh_db: sqlite_utils.Database, tmp_path: Path) -> None:
    episode_id = approved_episode(fresh_db, clips(tmp_path / "media", 2, make=make_take)).id

    first = queue_episode_cut(fresh_db, episode_id)
    second = queue_episode_cut(fresh_db, episode_id)

    assert first is not None and second is None
    assert assemble_jobs(fresh_db, episode_id) == ["queued"]
    jobs.start_job(fresh_db, first.id, "local")
    assert queue_episode_cut(fresh_db, episode_id) is None  # nor while it runs
    jobs.finish_job(fresh_db, first.id)
    assert queue_episode_cut(fresh_db, episode_id) is not None  # a re-cut, once it is done


async def test_two_handlers_at_once_queue_one_cut(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    # as in the bot: two reactions approve the last shots at the same moment, and each
    # handler asks for the cut on the event loop
    episode_id = approved_episode(fresh_db, clips(tmp_path / "media", 2, make=make_take)).id

    async def ask() -> bool:
        await asyncio.sleep(0)
        return queue_episode_cut(fresh_db, episode_id) is not None

    assert sorted(await asyncio.gather(ask(), ask())) == [False, True]
    assert assemble_jobs(fresh_db, episode_id) == ["queued"]


def test_two_connections_at_once_queue_one_cut(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    with open_db(path) as db:
        episode_id = approved_episode(db, clips(tmp_path / "media", 2, make=make_take)).id
    start = threading.Barrier(4)

    def ask() -> None:
        db = open_db(path)
        try:
            start.wait()
            queue_episode_cut(db, episode_id)
        finally:
            db.close()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with open_db(path) as db:
        assert assemble_jobs(db, episode_id) == ["queued"]


async def test_scheduler_fails_a_cut_on_a_full_disk_and_says_why(
    fresh_db: sqlite_utils.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode_id = approved_episode(fresh_db, clips(tmp_path / "media", 2, make=make_take)).id
    limit_ffmpeg(monkeypatch, 8_192)
    cut = queue_episode_cut(fresh_db, episode_id)
    assert cut is not None

    await run_until_idle(Scheduler(fresh_db, [], tmp_path / "media"), timeout=120)

    job = jobs.get_job(fresh_db, cut.id)
    assert job.status == "failed"
    assert job.error is not None and "not enough disk space" in job.error
    assert episodes.get_episode(fresh_db, episode_id).cut_path in (None, "")
    failed = [e.payload for e in events.pending_events(fresh_db) if e.kind == "job_failed"]
    assert failed == [{"job_id": cut.id}]
    assert not list((tmp_path / "media" / "episodes").glob("*partial*"))


async def test_a_delivery_copy_that_crashes_is_reported_and_the_episode_can_be_shot_again(
    fresh_db: sqlite_utils.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode_id = approved_episode(fresh_db, clips(tmp_path / "media", 2, make=make_take)).id
    episodes.set_episode_status(fresh_db, episode_id, "shooting")  # as its renders left it
    assert workflow.cut_when_complete(fresh_db, episode_id) is not None
    scheduler = Scheduler(fresh_db, [], tmp_path / "media")
    await run_until_idle(scheduler, timeout=120)
    assert episodes.get_episode(fresh_db, episode_id).status == "cutting"

    async def crash(master: Path, budget_bytes: int) -> Path:
        raise RuntimeError("the encoder fell over")

    monkeypatch.setattr(delivery_jobs, "fit_to_size", crash)
    copy = DeliveryPayload(limit_bytes=10_000_000, budget_bytes=9_000_000, poster=False)
    delivery = workflow.queue_delivery(fresh_db, episode_id, copy)
    assert delivery is not None
    await run_until_idle(scheduler, timeout=120)

    job = jobs.get_job(fresh_db, delivery.id)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "internal error (RuntimeError)"
    failed = [e.payload for e in events.pending_events(fresh_db) if e.kind == "job_failed"]
    assert failed == [{"job_id": delivery.id}]  # the team is told
    assert episodes.get_episode(fresh_db, episode_id).status == "shooting"


def ffmpeg_children() -> list[int]:
    """Live (not zombie) ffmpeg processes whose parent is this test process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and "ffmpeg" in name:
            found.append(int(stat.parent.name))
    return found


async def test_a_cancelled_ffmpeg_run_kills_ffmpeg(tmp_path: Path) -> None:
    endless = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=24", "-t", "600"]
    task = asyncio.create_task(run_ffmpeg_async([*endless, str(tmp_path / "long.mp4")]))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if ffmpeg_children():
            break
    assert ffmpeg_children(), "ffmpeg never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ffmpeg_children() == []
