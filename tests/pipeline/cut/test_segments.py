"""The cut's segment cache: each take normalised once, the cut joined by stream copy.

Real ffmpeg throughout; outputs are probed (frames, packets, audio levels), the cache is checked
on disk.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlite_utils

from pipeline.cut.assemble import CutShot, cut_episode
from pipeline.cut.segment_cache import SegmentCache
from pipeline.cut.segments import VideoFormat, prepare_segment, take_key
from pipeline.cut.subtitles import find_font
from pipeline.ffmpeg import ffmpeg_binary, probe, run_ffmpeg
from pipeline.render.queue import queue_episode_cut
from pipeline.render.scheduler import Scheduler, run_until_idle
from storage import episodes, jobs, projects
from tests.builders import approved_episode
from tests.media import clips, ffmpeg_log, frame_count, make_take, mean_volume

SMALL = {"width": 180, "height": 320, "fps": 24}


def video_packets(video: Path) -> list[tuple[str, str]]:
    """(size, md5) of every video packet, as stored."""
    args = ["-v", "error", "-i", str(video), "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"]
    completed = subprocess.run([ffmpeg_binary(), *args], capture_output=True, check=True)
    rows = [line.split(",") for line in completed.stdout.decode().splitlines()]
    return [(row[4].strip(), row[5].strip()) for row in rows if not row[0].startswith("#")]


def assert_copied(cut: Path, segments: list[Path]) -> None:
    """The cut's video is the segments' packets, copied: byte for byte, except that the join
    repeats the stream's parameter sets (SPS/PPS) in front of each segment's first frame."""
    packets = video_packets(cut)
    start = 0
    for segment in segments:
        own = video_packets(segment)
        assert packets[start + 1 : start + len(own)] == own[1:]
        assert 0 <= int(packets[start][0]) - int(own[0][0]) <= 64
        start += len(own)
    assert len(packets) == start


def decode_errors(video: Path) -> str:
    return ffmpeg_log("-v", "error", "-i", str(video), "-f", "null", "-").strip()


def segment_of(cache: SegmentCache, shot: CutShot, frames: int = 24) -> Path:
    # the shots fixture has a Chinese line: the whole episode is subtitled in a CJK font
    fmt = VideoFormat(SMALL["width"], SMALL["height"], SMALL["fps"], cjk_subtitles=True)
    return cache.path(take_key(shot.media_path.resolve(), frames, shot.dialogue, fmt))


def segments_on_disk(cache: SegmentCache) -> list[Path]:
    return sorted(cache.root.glob("*.mov"))


@pytest.fixture
def shots(tmp_path: Path) -> list[CutShot]:
    return [
        CutShot(make_take(tmp_path / "a.mp4"), 1.0, "Where were you?", "Shot 1"),
        CutShot(make_take(tmp_path / "b.mp4", 1.5, "testsrc2"), 1.0, "", "Shot 2"),
        CutShot(make_take(tmp_path / "c.mp4", 0.5), 1.0, "我一直在等你。", "Shot 3"),
    ]


async def test_recut_after_one_change_encodes_only_that_shot_and_copies_the_rest(
    tmp_path: Path, shots: list[CutShot]
) -> None:
    cache = SegmentCache(tmp_path / "cache")
    out = tmp_path / "cut" / "episode.mp4"

    await cut_episode(shots, out, cache=cache, **SMALL)

    assert (cache.encoded, cache.reused) == (3, 0)
    first = segments_on_disk(cache)
    assert len(first) == 3 and len(list(cache.root.glob("*.json"))) == 3
    assert frame_count(out) == 72
    # stream copy: the cut's video packets are the segments' packets, byte for byte
    used = [segment_of(cache, shot) for shot in shots]
    assert sorted(used) == first
    assert_copied(out, used)

    # the dialogue of shot 2 changes; nothing else does
    changed = [shots[0], CutShot(shots[1].media_path, 1.0, "Run!", "Shot 2"), shots[2]]
    await cut_episode(changed, out, cache=cache, **SMALL)

    assert (cache.encoded, cache.reused) == (4, 2)
    assert len(segments_on_disk(cache)) == 4
    info = probe(out)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (
        180,
        320,
        "h264",
        "aac",
    )
    assert abs(info.duration - 3.0) <= 0.05
    assert frame_count(out) == 72
    assert decode_errors(out) == ""
    used = [segment_of(cache, shot) for shot in changed]
    assert used[0] in first and used[1] not in first and used[2] in first
    assert_copied(out, used)
    assert out.with_suffix(".srt").read_text(encoding="utf-8").count("-->") == 3


async def test_a_changed_take_file_makes_a_new_segment(
    tmp_path: Path, shots: list[CutShot]
) -> None:
    cache = SegmentCache(tmp_path / "cache")
    out = tmp_path / "episode.mp4"
    await cut_episode(shots, out, cache=cache, **SMALL)

    make_take(shots[0].media_path, 1.0, "smptebars")  # a retake written over the same file
    await cut_episode(shots, out, cache=cache, **SMALL)

    assert (cache.encoded, cache.reused) == (4, 2)
    assert len(segments_on_disk(cache)) == 4


@pytest.mark.parametrize("damage", ["truncate", "garble", "no sidecar"])
async def test_a_damaged_cache_entry_is_rebuilt(
    tmp_path: Path, shots: list[CutShot], damage: str
) -> None:
    cache = SegmentCache(tmp_path / "cache")
    out = tmp_path / "episode.mp4"
    await cut_episode(shots, out, cache=cache, **SMALL)
    victim = segments_on_disk(cache)[1]
    data = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    elif damage == "garble":
        middle = len(data) // 2
        victim.write_bytes(data[:middle] + bytes(range(256)) * 16 + data[middle + 4096 :])
    else:
        victim.with_suffix(".json").unlink()
    assert damage == "no sidecar" or victim.read_bytes() != data

    await cut_episode(shots, out, cache=cache, **SMALL)

    assert (cache.encoded, cache.reused) == (4, 2)
    assert victim.read_bytes() == data  # made again, the same as before
    assert frame_count(out) == 72
    assert decode_errors(out) == ""


async def test_segments_prepared_ahead_make_the_cut_encode_nothing(
    tmp_path: Path, shots: list[CutShot]
) -> None:
    cache = SegmentCache(tmp_path / "cache")
    fmt = VideoFormat(180, 320, 24, cjk_subtitles=True)  # shot 3's line is Chinese
    # as the scheduler does on approval, in any order and at once
    await asyncio.gather(
        *[prepare_segment(cache, shot.media_path, 24, shot.dialogue, fmt) for shot in shots]
    )
    assert cache.encoded == 3

    await cut_episode(shots, tmp_path / "episode.mp4", cache=cache, **SMALL)

    assert (cache.encoded, cache.reused) == (3, 3)
    assert frame_count(tmp_path / "episode.mp4") == 72


def first_frame(video: Path) -> bytes:
    """The first frame's raw RGB pixels."""
    args = ["-v", "error", "-i", str(video), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt"]
    completed = subprocess.run([ffmpeg_binary(), *args, "rgb24", "-"], capture_output=True)
    assert completed.returncode == 0 and completed.stdout
    return completed.stdout


async def test_an_episode_with_one_chinese_line_subtitles_every_line_in_one_font(
    tmp_path: Path,
) -> None:
    latin, cjk = find_font(cjk=False), find_font(cjk=True)
    if latin is None or cjk is None or latin.path == cjk.path:
        pytest.skip("needs a Latin and a separate CJK font")
    take = make_take(tmp_path / "a.mp4", source="color")
    english = CutShot(take, 1.0, "Run now!", "Shot 1")
    chinese = CutShot(make_take(tmp_path / "b.mp4", source="color"), 1.0, "快跑！", "Shot 2")
    english_only, mixed = SegmentCache(tmp_path / "english"), SegmentCache(tmp_path / "mixed")

    await cut_episode([english], tmp_path / "e1.mp4", cache=english_only, **SMALL)
    await cut_episode([english, chinese], tmp_path / "e2.mp4", cache=mixed, **SMALL)

    # the English line drawn by itself in the CJK font, and in the Latin font
    in_cjk = await prepare_segment(
        SegmentCache(tmp_path / "cjk"), take, 24, english.dialogue, VideoFormat(180, 320, 24, True)
    )
    (alone,) = segments_on_disk(english_only)
    in_mixed = {first_frame(path) for path in segments_on_disk(mixed)}
    # in the mixed episode the English line is in the CJK font, like the Chinese line
    assert first_frame(in_cjk.path) in in_mixed
    # an all-English episode keeps the Latin font
    assert first_frame(alone) != first_frame(in_cjk.path)


async def test_two_cuts_at_once_share_segments(tmp_path: Path, shots: list[CutShot]) -> None:
    cache = SegmentCache(tmp_path / "cache")

    await asyncio.gather(
        cut_episode(shots, tmp_path / "one.mp4", cache=cache, **SMALL),
        cut_episode(shots, tmp_path / "two.mp4", cache=cache, **SMALL),
    )

    assert (cache.encoded, cache.reused) == (3, 3)
    assert video_packets(tmp_path / "one.mp4") == video_packets(tmp_path / "two.mp4")


async def test_a_take_with_its_own_sound_keeps_it(tmp_path: Path) -> None:
    shots = [
        CutShot(make_take(tmp_path / "loud.mp4", 1.0, tone=440), 1.0, "Listen."),
        CutShot(make_take(tmp_path / "mute.mp4", 1.0), 1.0),
        # shorter than its shot: its sound stops where the take does, then silence
        CutShot(make_take(tmp_path / "short.mp4", 0.5, tone=880), 1.0),
    ]

    out = await cut_episode(shots, tmp_path / "episode.mp4", **SMALL)

    assert probe(out).audio_codec == "aac"
    assert mean_volume(out, 0.1, 0.8) > -30
    assert mean_volume(out, 1.1, 0.8) < -80
    assert mean_volume(out, 2.05, 0.35) > -30
    assert mean_volume(out, 2.6, 0.35) < -80


async def test_without_a_cache_no_segment_is_left_behind(
    tmp_path: Path, shots: list[CutShot]
) -> None:
    out = tmp_path / "cut" / "episode.mp4"

    await cut_episode(shots, out, **SMALL)

    assert sorted(p.name for p in out.parent.iterdir()) == [
        "episode.mp4", "episode.png", "episode.srt"
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the scheduler prepares approved takes before the cut is asked for


async def test_scheduler_prepares_approved_takes_so_the_cut_only_joins(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    episode_id = approved_episode(fresh_db, clips(media, 3)).id
    scheduler = Scheduler(fresh_db, [], media)

    running = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(60):
        while len(list((media / "cache").glob("*.json"))) < 3:
            await asyncio.sleep(0.1)
    scheduler.stop()
    await running
    assert (scheduler.cuts.segments.encoded, scheduler.cuts.segments.reused) == (3, 0)

    cut = queue_episode_cut(fresh_db, episode_id)
    assert cut is not None
    await run_until_idle(scheduler, timeout=60)

    assert jobs.get_job(fresh_db, cut.id).status == "done"
    assert (scheduler.cuts.segments.encoded, scheduler.cuts.segments.reused) == (3, 3)
    episode = episodes.get_episode(fresh_db, episode_id)
    assert episode.cut_path and frame_count(Path(episode.cut_path)) == 72


async def test_after_a_cut_the_least_recently_used_segments_beyond_the_bound_are_deleted(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    episode_id = approved_episode(fresh_db, clips(media, 3)).id
    # a segment of a take no episode uses any more, last used a day ago
    stale = await prepare_segment(
        SegmentCache(media / "cache"),
        make_take(media / "old.mp4"),
        24,
        "an old line",
        VideoFormat(180, 320, 24),
    )
    day_ago = stale.path.stat().st_mtime - 86400
    os.utime(stale.path.with_suffix(".json"), (day_ago, day_ago))
    scheduler = Scheduler(fresh_db, [], media, segment_cache_bytes=10**9)
    running = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(60):
        while len(list((media / "cache").glob("*.json"))) < 4:
            await asyncio.sleep(0.1)
    scheduler.stop()
    await running
    on_disk = segments_on_disk(scheduler.cuts.segments)
    episode_segments = [path for path in on_disk if path != stale.path]
    assert len(episode_segments) == 3
    # room for this episode's segments only
    scheduler.cuts.segments.max_bytes = sum(path.stat().st_size for path in episode_segments)

    cut = queue_episode_cut(fresh_db, episode_id)
    assert cut is not None
    await run_until_idle(scheduler, timeout=60)

    assert jobs.get_job(fresh_db, cut.id).status == "done"
    assert not stale.path.exists() and not stale.path.with_suffix(".json").exists()
    assert sorted(segments_on_disk(scheduler.cuts.segments)) == sorted(episode_segments)
    # what is left is what the next cut needs: it encodes nothing
    again = queue_episode_cut(fresh_db, episode_id)
    assert again is not None
    encoded = scheduler.cuts.segments.encoded
    await run_until_idle(scheduler, timeout=60)
    assert jobs.get_job(fresh_db, again.id).status == "done"
    assert scheduler.cuts.segments.encoded == encoded


def test_prune_removes_what_a_killed_process_left_once_it_is_an_hour_old(tmp_path: Path) -> None:
    cache = SegmentCache(tmp_path / "cache", max_bytes=10**9)
    cache.root.mkdir()
    old_partial = cache.root / ".take-abc.123-deadbeef.partial.mov"
    orphan = cache.root / "take-def.mov"  # killed between the segment and its sidecar
    young_partial = cache.root / ".take-ghi.456-feedface.partial.mov"  # being made now
    for path in (old_partial, orphan, young_partial):
        path.write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    for path in (old_partial, orphan):
        os.utime(path, (two_hours_ago, two_hours_ago))

    cache.prune()

    assert sorted(cache.root.iterdir()) == [young_partial]


async def test_scheduler_cut_has_the_projects_cards_and_music(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    episode_id = approved_episode(fresh_db, clips(media, 2)).id
    episode = episodes.get_episode(fresh_db, episode_id)
    episodes.edit_episode(fresh_db, episode_id, teaser="The dam breaks.")
    projects.update_settings(
        fresh_db,
        episode.project_id,
        title_card_seconds=1.0,
        end_card_seconds=0.5,
        credits="Written by Ada",
        music_volume=0.5,
    )
    music = media / "music" / "bed.wav"
    music.parent.mkdir(parents=True)
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:duration=1", str(music)])
    projects.set_music(fresh_db, episode.project_id, str(music))
    cut = queue_episode_cut(fresh_db, episode_id)
    assert cut is not None

    await run_until_idle(Scheduler(fresh_db, [], media), timeout=60)

    assert jobs.get_job(fresh_db, cut.id).status == "done"
    out = Path(episodes.get_episode(fresh_db, episode_id).cut_path or "")
    assert frame_count(out) == 24 + 48 + 12
    assert abs(probe(out).duration - 3.5) <= 0.05
    # music plays under the title card, where no take has sound
    assert mean_volume(out, 0.5, 0.4) > -40
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:01,000 --> 00:00:02,000\nLine 0\n")
    assert os.path.getsize(out.with_suffix(".png")) > 0


async def test_a_cut_with_relative_folders_works(
    tmp_path: Path, shots: list[CutShot], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SHOWRUNNER_DATA_DIR defaults to the relative "data": the concat listing must still resolve
    monkeypatch.chdir(tmp_path)
    relative = [CutShot(s.media_path.relative_to(tmp_path), s.duration, s.dialogue) for s in shots]
    cache = SegmentCache(Path("data/media/cache"))
    out = Path("data/media/episodes/episode.mp4")

    await cut_episode(relative, out, cache=cache, **SMALL)

    assert frame_count(tmp_path / out) == 72
