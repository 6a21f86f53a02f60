"""Delivery: a copy that fits the upload limit, the poster frame, and the post in Discord
(the real discord.py bot against the emulator, real SQLite and ffmpeg)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from PIL import Image

from bot.client import ShowrunnerBot, point_at_discord
from bot.delivery.post import FIELD_LIMIT, pack_lines
from bot.runtime import open_runtime
from bot.settings import Settings
from pipeline.cut.assemble import CutShot, cut_episode
from pipeline.delivery import copy_for_upload as delivery_copy
from pipeline.delivery.copy_for_upload import fit_to_size, plan_attempt
from pipeline.errors import AssembleError, DeliveryError
from pipeline.ffmpeg import probe, run_ffmpeg
from storage import episodes, events, jobs, plan, projects, takes
from storage.db import open_db
from tests.builders import shot_in_review
from tests.discord_emulator import DiscordEmulator
from tests.fakes import say, scripted

MASTER_SECONDS = 8


def clip(path: Path, source: str, seconds: float, *extra: str) -> Path:
    """A synthetic take: lavfi video (and a sine tone) at a high bitrate."""
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"{source}=size=180x320:rate=24:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            *extra,
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest",
            str(path),
        ]
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("master")
    return clip(folder / "master.mp4", "testsrc2", MASTER_SECONDS, "-b:v", "2M")


@pytest.fixture
def work(tmp_path: Path, master: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the master, and a clean working directory to catch stray files."""
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "episode.mp4"
    copy.write_bytes(master.read_bytes())
    return copy


async def test_a_copy_fits_the_limit_and_keeps_codecs_size_and_duration(work: Path) -> None:
    master_bytes = work.read_bytes()
    limit = 300_000
    assert len(master_bytes) > 3 * limit

    started = time.monotonic()
    copy = await fit_to_size(work, limit)
    took = time.monotonic() - started

    assert copy == work.with_name("episode.delivery.mp4")
    assert copy.stat().st_size <= limit
    info = probe(copy)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (180, 320)  # enough bits for the full frame
    assert abs(info.duration - probe(work).duration) <= 0.2
    assert work.read_bytes() == master_bytes
    # no pass logs in the working directory, no partial files beside the master
    assert sorted(p.name for p in work.parent.iterdir()) == [
        "episode.delivery.mp4",
        "episode.mp4",
    ]
    print(
        f"master {len(master_bytes)} B, limit {limit} B, copy {copy.stat().st_size} B, {took:.1f} s"
    )

    # a retried delivery reuses the copy instead of encoding it again
    made = copy.stat().st_mtime_ns
    assert await fit_to_size(work, limit) == copy
    assert copy.stat().st_mtime_ns == made


async def test_a_master_that_fits_is_returned_as_it_is(work: Path) -> None:
    before = sorted(p.name for p in work.parent.iterdir())

    assert await fit_to_size(work, work.stat().st_size) == work.resolve()

    assert sorted(p.name for p in work.parent.iterdir()) == before


async def test_an_absurd_limit_still_fits_in_a_smaller_frame(work: Path) -> None:
    limit = 60_000  # 60 kbit/s for picture and sound together
    out = work.parent / "tiny" / "copy.mp4"
    out.parent.mkdir()

    copy = await fit_to_size(work, limit, out)

    assert copy == out
    assert copy.stat().st_size <= limit
    info = probe(copy)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.width < 180 and info.height < 320
    assert info.width % 2 == 0 and info.height % 2 == 0
    assert abs(info.duration - MASTER_SECONDS) <= 0.2
    print(f"limit {limit} B: copy {copy.stat().st_size} B at {info.width}x{info.height}")


async def test_an_unreadable_master_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 1000)

    with pytest.raises(DeliveryError, match=r"broken\.mp4"):
        await fit_to_size(broken, 1000)
    with pytest.raises(DeliveryError, match="missing"):
        await fit_to_size(tmp_path / "gone.mp4", 1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


@pytest.fixture(scope="module")
def noise_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of random pixels and noise: x264 cannot hit a low bitrate on it at full frame."""
    path = tmp_path_factory.mktemp("noise") / "noise.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "nullsrc=s=360x640:r=12,geq=random(1)*255:128:128",
            "-f", "lavfi", "-i", "anoisesrc=d=4:a=0.5",
            "-t", "4", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", str(path),
        ]
    )  # fmt: skip
    return path


async def test_a_copy_that_overshoots_is_encoded_again_in_a_smaller_frame(
    noise_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first encode (full frame, ~200 kbit/s) comes out about twice the limit
    limit = 150_000
    out = tmp_path / "copy.mp4"
    sizes: list[int] = []
    real_encode = delivery_copy._encode

    async def encode_and_measure(master, info, attempt, encoded: Path) -> None:
        await real_encode(master, info, attempt, encoded)
        sizes.append(encoded.stat().st_size)

    monkeypatch.setattr(delivery_copy, "_encode", encode_and_measure)
    copy = await fit_to_size(noise_master, limit, out)

    assert copy == out and copy.stat().st_size <= limit
    assert len(sizes) >= 2 and sizes[0] > limit  # the first try was too big, a retry fits
    info = probe(copy)
    assert (info.width, info.height) < (360, 640) and info.width % 2 == 0
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration - 4) <= 0.2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4"]


async def test_a_limit_no_encode_can_meet_is_refused_and_leaves_nothing(
    noise_master: Path, tmp_path: Path
) -> None:
    limit = 12_000  # below what the smallest frame at the floor bitrates takes for 4 s
    out = tmp_path / "copy.mp4"
    with pytest.raises(DeliveryError) as refused:
        await fit_to_size(noise_master, limit, out)
    message = str(refused.value)
    assert message.startswith("could not fit noise.mp4 (4.0 s) into 12000 bytes (tried ")
    tried = re.fullmatch(
        r".* \(tried ((?:\d+ bytes at [\d.]+x)(?:, \d+ bytes at [\d.]+x)*)\)", message
    )
    assert tried, message
    tries = tried.group(1).split(", ")
    assert tries[-1].endswith(" at 0.25x")
    # once at the floor it stops: a try that would repeat the last one is never made
    assert len(tries) == len(set(tries)) < delivery_copy.MAX_ATTEMPTS
    assert list(tmp_path.iterdir()) == []  # no copy, no partial file


async def test_every_try_is_named_when_none_fits(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 1_000_000
    scales: list[float] = []

    async def encode_too_big(master, info, attempt, encoded: Path) -> None:
        scales.append(attempt.scale)
        encoded.write_bytes(b"\0" * (limit + 1))

    monkeypatch.setattr(delivery_copy, "_encode", encode_too_big)
    with pytest.raises(DeliveryError) as refused:
        await fit_to_size(work, limit, work.with_name("copy.mp4"))
    # each try lower and smaller, down to the smallest frame, and no more than six
    assert scales == [1, 0.75, 0.5, 0.25, 0.25, 0.25]
    tried = ", ".join(f"1000001 bytes at {scale:g}x" for scale in scales)
    assert str(refused.value) == (
        f"could not fit episode.mp4 (8.0 s) into 1000000 bytes (tried {tried})"
    )
    assert sorted(p.name for p in work.parent.iterdir()) == ["episode.mp4"]


async def test_a_copy_of_exactly_the_limit_fits(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = work.stat().st_size - 1  # the master is one byte too big
    encodes: list[int] = []

    async def encode_to_the_byte(master, info, attempt, encoded: Path) -> None:
        encodes.append(limit)
        encoded.write_bytes(b"\0" * limit)

    monkeypatch.setattr(delivery_copy, "_encode", encode_to_the_byte)
    copy = await fit_to_size(work, limit, work.with_name("copy.mp4"))
    assert copy.name == "copy.mp4" and copy.stat().st_size == limit
    assert encodes == [limit]  # the first encode was kept


def test_low_budgets_pick_a_smaller_frame() -> None:
    roomy = plan_attempt(10 * 2**20, 30, 1.0, 1.0)
    assert roomy.scale == 1.0 and roomy.audio_bitrate == 96_000
    tight = plan_attempt(1_000_000, 120, 1.0, 1.0)  # ~50 kbit/s of video
    assert tight.scale < 1.0 and tight.video_bitrate < 150_000
    assert plan_attempt(10 * 2**20, 120, 1.0, 0.5).scale == 0.5  # a retry never grows


def test_the_budget_is_the_limit_less_the_container_spread_over_the_duration() -> None:
    # 1 MB for 10 s: 95% of it, less 4,096 + 1,000/s of container = 935,904 bytes
    # = 748,723 bit/s: 64 kbit/s of audio, the rest video, at full size
    assert plan_attempt(1_000_000, 10, 1.0, 1.0) == delivery_copy.Attempt(1.0, 684_723, 64_000)
    # 160 kB: 78,323 bit/s of video pays for half the frame (37,500), not 3/4 (84,375)
    assert plan_attempt(160_000, 10, 1.0, 1.0) == delivery_copy.Attempt(0.5, 78_323, 32_000)
    # a clip shorter than 0.1 s is budgeted as 0.1 s
    assert plan_attempt(300_000, 0.05, 1.0, 1.0) == plan_attempt(300_000, 0.1, 1.0, 1.0)
    assert plan_attempt(300_000, 0.5, 1.0, 1.0).video_bitrate == 4_390_464


def test_a_copy_over_the_limit_is_tried_again_lower_and_smaller() -> None:
    # twice the limit: aim at 0.95 x half, at the next smaller frame
    assert delivery_copy.next_try(1.0, 1.0, 2000, 1000) == pytest.approx((0.475, 0.75))
    # 5% over: still at least 10% lower, and the frame after 0.75
    assert delivery_copy.next_try(0.5, 0.75, 1050, 1000) == pytest.approx((0.45, 0.5))
    # from an aim already lowered, at the smallest frame: lower again, the frame stays
    shrink, scale = delivery_copy.next_try(0.2, 0.25, 1100, 1000)
    assert shrink == pytest.approx(0.2 * 0.95 * 1000 / 1100) and scale == 0.25


def test_a_copy_is_reused_only_when_newer_than_its_master_non_empty_and_within_the_limit(
    tmp_path: Path,
) -> None:
    master = tmp_path / "ep.mp4"
    master.write_bytes(b"m" * 100)
    copy = tmp_path / "ep.delivery.mp4"

    def made(size: int, *, age: int) -> bool:
        copy.write_bytes(b"c" * size)
        stamp = master.stat().st_mtime_ns + age
        os.utime(copy, ns=(stamp, stamp))
        return delivery_copy._reusable(copy, master, limit_bytes=10)

    assert made(10, age=0) and made(1, age=5)  # as new as the master, or newer
    assert not made(10, age=-1)  # made from an older master
    assert not made(11, age=5)  # over the limit (a smaller limit since)
    assert not made(0, age=5)  # an interrupted write
    copy.unlink()
    assert not delivery_copy._reusable(copy, master, limit_bytes=10)


@pytest.mark.parametrize(
    ("total", "audio"),
    [
        (1_000_000, 96_000),
        (999_999, 64_000),
        (200_000, 64_000),
        (199_999, 32_000),
        (64_000, 32_000),
        (63_999, delivery_copy.MONO_AUDIO_BITRATE),
    ],
)
def test_the_audio_gets_less_as_the_budget_shrinks(total: int, audio: int) -> None:
    assert delivery_copy.audio_bitrate(total) == audio


def test_only_the_last_resort_is_mono() -> None:
    info = SimpleNamespace(width=90, height=160, audio_codec="aac")

    def channels(audio_bitrate: int) -> list[str]:
        attempt = delivery_copy.Attempt(0.5, 8_000, audio_bitrate)
        args = delivery_copy._encode_args(Path("a.mp4"), info, attempt, Path("b.mp4"), Path("p"), 2)
        return [args[i + 1] for i, arg in enumerate(args) if arg == "-ac"]

    assert channels(delivery_copy.MONO_AUDIO_BITRATE) == ["1"]
    assert channels(32_000) == []


async def test_a_failed_encode_names_the_episode(tmp_path: Path) -> None:
    info = SimpleNamespace(width=90, height=160, audio_codec=None)
    attempt = delivery_copy.Attempt(1.0, 100_000, 32_000)
    with pytest.raises(DeliveryError) as failed:
        await delivery_copy._encode(tmp_path / "gone.mp4", info, attempt, tmp_path / "o.mp4")
    assert str(failed.value).startswith("could not encode a delivery copy of gone.mp4: ffmpeg")


def test_a_smaller_frame_keeps_the_shape_in_even_numbers_and_a_floor() -> None:
    assert delivery_copy.scaled_size(1080, 1920, 1.0) == (1080, 1920)
    assert delivery_copy.scaled_size(1080, 1920, 0.5) == (540, 960)
    assert delivery_copy.scaled_size(720, 1280, 0.7) == (504, 896)  # 503.99 -> 504
    assert delivery_copy.scaled_size(90, 160, 0.55) == (50, 88)  # 49.5 and 88: even
    floor = delivery_copy.MIN_SIDE
    assert delivery_copy.scaled_size(90, 160, 0.01) == (floor, floor)


async def test_the_cut_writes_a_poster_frame_atomically(tmp_path: Path) -> None:
    first = clip(tmp_path / "a.mp4", "testsrc", 1.0)
    second = clip(tmp_path / "b.mp4", "testsrc2", 1.0)
    out = tmp_path / "cut" / "episode.mp4"

    await cut_episode(
        [CutShot(first, 1.0, "Hello."), CutShot(second, 1.0)], out, width=180, height=320
    )

    poster = out.with_suffix(".png")
    with Image.open(poster) as image:
        assert image.format == "PNG" and image.size == (180, 320)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "episode.mp4",
        "episode.png",
        "episode.srt",
    ]

    # a failed cut keeps the previous poster
    with pytest.raises(AssembleError):
        await cut_episode([CutShot(tmp_path / "gone.mp4", 1.0)], out, width=180, height=320)
    assert poster.is_file()
    assert not [p for p in out.parent.iterdir() if "partial" in p.name]


def test_approval_lines_are_packed_within_field_limits() -> None:
    lines = [f"Shot {n}: take {n} — " + ", ".join(["<@123456789012345678>"] * 5) for n in range(60)]

    values = pack_lines(lines, 3)

    assert len(values) == 3
    assert all(len(value) <= FIELD_LIMIT for value in values)
    assert values[-1].endswith("more")
    shown = sum(value.count("Shot ") for value in values)
    assert values[-1].endswith(f"… and {60 - shown} more")
    assert pack_lines(["Shot 1: take 1 — <@1>"], 3) == ["Shot 1: take 1 — <@1>"]


# ---------------------------------------------------------------------------------------------
# the post in Discord

UPLOAD_LIMIT = 600_000


@contextlib.asynccontextmanager
async def delivered_bot(
    tmp_path: Path, emulator: DiscordEmulator, guild: int
) -> AsyncIterator[ShowrunnerBot]:
    settings = Settings(
        _env_file=None,
        discord_token=emulator.token,
        discord_api_base=emulator.api_base,
        discord_gateway_url=emulator.gateway_url,
        showrunner_data_dir=tmp_path / "data",
        showrunner_engine="animatic",
        # never contacted: no render is queued
        showrunner_render_actors=0,
    )
    point_at_discord(settings)
    async with open_runtime(settings, chat_model=scripted(say("unused"))) as runtime:
        bot = ShowrunnerBot(runtime, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(emulator.token))
        try:
            await emulator.wait_bot_ready(timeout=30)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True)
class Cut:
    takes: list[Path]
    master: Path


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Cut:
    """Two takes and their cut (master and poster), made once: the master is over the limit."""
    folder = tmp_path_factory.mktemp("cut")
    media = [
        clip(folder / "c1.mp4", "testsrc", 1),
        clip(folder / "c2.mp4", "testsrc2", 4, "-vf", "noise=alls=30:allf=t", "-crf", "10"),
    ]
    shots = [CutShot(media[0], 1.0, "Hello."), CutShot(media[1], 4.0)]
    master = asyncio.run(cut_episode(shots, folder / "ep1.mp4", width=180, height=320, fps=12))
    assert master.stat().st_size > UPLOAD_LIMIT
    return Cut(media, master)


def seed_delivery(tmp_path: Path, cut: Cut, guild: int, delivery: int, voters: list[int]) -> int:
    """A project whose episode 1 is cut and waits in the outbox for delivery."""
    db = open_db(tmp_path / "data" / "showrunner.db")
    project = projects.create_project(
        db, "Gong Gong", guild_id=guild, writers_channel_id=delivery, width=180, height=320, fps=12
    )
    shot_plans = (plan.ShotPlan("The shore", duration=1), plan.ShotPlan("The god", duration=4))
    episode = plan.save_episode_plan(
        db,
        project.id,
        plan.EpisodePlan("The Flood", "A mortal defies the water god.", (
            plan.ScenePlan("Shore", "storm", shot_plans),
        )),
    )  # fmt: skip
    shots = plan.list_shots(db, episode.id)
    for index, (shot, path) in enumerate(zip(shots, cut.takes, strict=True)):
        shot_in_review(db, shot.id)
        take = takes.add_take(
            db, shot_id=shot.id, job_id=f"j{index}", seed=1, engine="animatic", model="",
            media_path=str(path),
        )  # fmt: skip
        for user in voters:
            takes.add_vote(db, take.id, user, takes.THUMBS_UP)
        takes.approve_take(db, take.id)
    master = tmp_path / "data" / "media" / "episodes" / cut.master.name
    master.parent.mkdir(parents=True)
    for suffix in (".mp4", ".png"):
        shutil.copyfile(cut.master.with_suffix(suffix), master.with_suffix(suffix))
    episodes.set_episode_status(db, episode.id, "shooting")
    episodes.set_episode_status(db, episode.id, "cutting")
    episodes.set_cut_path(db, episode.id, str(master))
    events.emit(db, events.EpisodeCut(episode.id, str(master)))
    db.close()
    return episode.id


@pytest.fixture
def small_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discord.Guild, "filesize_limit", property(lambda _: UPLOAD_LIMIT))


async def test_delivery_posts_a_copy_that_fits_with_card_poster_and_thread(
    tmp_path: Path, cut: Cut, small_uploads: None
) -> None:
    async with DiscordEmulator(max_upload_bytes=UPLOAD_LIMIT) as emulator:
        guild = emulator.create_guild("Drama Lab")
        delivery = emulator.create_channel(guild, "delivery")
        ana = emulator.add_member(guild, "ana")
        ben = emulator.add_member(guild, "ben")
        episode_id = seed_delivery(tmp_path, cut, guild, delivery, [ana, ben])

        async with delivered_bot(tmp_path, emulator, guild):
            posted = await emulator.wait_for_message(
                delivery, lambda m: bool(m["attachments"]), timeout=60
            )
            db = open_db(tmp_path / "data" / "showrunner.db")
            await emulator.wait_until(
                lambda: episodes.get_episode(db, episode_id).status == "delivered"
            )
            await emulator.wait_until(lambda: posted["id"] in emulator.channels)
        emulator.assert_clean()

    assert "Episode 1" in posted["content"]
    video, poster = posted["attachments"]
    assert (video["filename"], poster["filename"]) == ("episode1.mp4", "poster.png")
    data = emulator.attachment_bytes(video)
    assert len(data) + len(emulator.attachment_bytes(poster)) <= UPLOAD_LIMIT
    (tmp_path / "got.mp4").write_bytes(data)
    info = probe(tmp_path / "got.mp4")
    assert (info.video_codec, info.audio_codec, info.width, info.height) == (
        "h264", "aac", 180, 320
    )  # fmt: skip
    assert abs(info.duration - 5.0) <= 0.2

    (embed,) = posted["embeds"]
    assert embed["title"] == "Gong Gong — Episode 1: The Flood"
    assert embed["image"]["url"] == "attachment://poster.png"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Duration"] == "0:05" and fields["Shots"] == "2"
    assert fields["Approved takes"].splitlines() == [
        f"Shot 1: take 1 — <@{ana}>, <@{ben}>",
        f"Shot 2: take 2 — <@{ana}>, <@{ben}>",
    ]
    assert "ep1.mp4" in fields["Master"] and "kept" in fields["Master"]
    thread = emulator.channels[posted["id"]]
    assert thread.parent_id == delivery and "Episode 1" in thread.name
    assert posted["allowed_mentions"] is not None and posted["allowed_mentions"]["parse"] == []


async def test_no_thread_permission_does_not_fail_the_delivery(
    tmp_path: Path, cut: Cut, small_uploads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: discord.Message, **_: object) -> None:
        response = SimpleNamespace(status=403, reason="Forbidden")
        raise discord.Forbidden(response, {"code": 50013, "message": "Missing Permissions"})

    monkeypatch.setattr(discord.Message, "create_thread", refused)
    async with DiscordEmulator(max_upload_bytes=UPLOAD_LIMIT) as emulator:
        guild = emulator.create_guild("Drama Lab")
        delivery = emulator.create_channel(guild, "delivery")
        episode_id = seed_delivery(tmp_path, cut, guild, delivery, [])

        async with delivered_bot(tmp_path, emulator, guild):
            posted = await emulator.wait_for_message(
                delivery, lambda m: bool(m["attachments"]), timeout=60
            )
            db = open_db(tmp_path / "data" / "showrunner.db")
            await emulator.wait_until(
                lambda: episodes.get_episode(db, episode_id).status == "delivered"
            )
        emulator.assert_clean()

    assert posted["id"] not in emulator.channels
    fields = {field["name"]: field["value"] for field in posted["embeds"][0]["fields"]}
    assert "approved without votes" in fields["Approved takes"]


async def test_the_outbox_posts_on_while_a_delivery_copy_is_made(
    tmp_path: Path, cut: Cut, small_uploads: None
) -> None:
    """The copy that fits the upload limit is a job the scheduler runs: a failure notice
    emitted after the cut is posted before the (re-encoded) episode, not after it."""
    async with DiscordEmulator(max_upload_bytes=UPLOAD_LIMIT) as emulator:
        guild = emulator.create_guild("Drama Lab")
        delivery = emulator.create_channel(guild, "delivery")  # the writers' room too
        episode_id = seed_delivery(tmp_path, cut, guild, delivery, [])
        db = open_db(tmp_path / "data" / "showrunner.db")
        shot = plan.list_shots(db, episode_id)[0]
        job = jobs.enqueue_job(
            db, kind="render", episode_id=episode_id, shot_id=shot.id, payload={}
        )
        jobs.start_job(db, job.id, "worker")
        jobs.fail_job(db, job.id, "out of memory", retry=False)
        events.emit(db, events.JobFailed(job.id))

        async with delivered_bot(tmp_path, emulator, guild):
            posted = await emulator.wait_for_message(
                delivery, lambda m: bool(m["attachments"]), timeout=60
            )
            await emulator.wait_until(
                lambda: episodes.get_episode(db, episode_id).status == "delivered"
            )
        emulator.assert_clean()

    failure, episode = [m for m in emulator.messages(delivery) if m["id"] <= posted["id"]]
    assert failure["content"] == "❌ Shot 1 failed: out of memory"
    assert episode["id"] == posted["id"] and posted["attachments"][0]["filename"] == "episode1.mp4"
    (copy_job,) = jobs.jobs_for_episode(db, episode_id, "deliver")
    assert copy_job.status == "done"
    assert delivery_copy.delivery_path(
        Path(episodes.get_episode(db, episode_id).cut_path)
    ).is_file()
