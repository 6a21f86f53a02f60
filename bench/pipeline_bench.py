"""Pipeline benchmark: figures and ratios for the pipeline issue (not a test).

    /work/venv/bin/python bench/pipeline_bench.py [--rounds 7] [--workers 3] [--steps N] [--keep]

Three processes take part, so that what runs where is the same as in production:

- this process only orchestrates; it never imports torch;
- a "bare" child imports torch and diffusers, loads the tiny model in-process and renders a shot
  with one plain pipeline call plus the same still_to_clip step the engine does (P1 baseline,
  P2 batching);
- a "bot" child is the bot side: a real SQLite file, queue_episode_render, the Scheduler and
  run_until_idle, a local Ray with a render actor running the diffusers engine, media fetched
  and takes recorded (P1 full path, P7 warm actor, dispatch overhead, RSS). It imports only
  storage and pipeline client modules (and ray) and reports whether torch ever reached its
  sys.modules. Last, it leaves that Ray for a local two-node cluster
  (ray.cluster_utils.Cluster, one CPU and one logical GPU a node) and renders the same batch
  of shots on one actor and on two (throughput).

The shot is the same on both P1 paths: the project's prompt (build_prompt), its 9:16 frame, one
take, and the keyframe size the engine picks for the tiny model (queue_episode_render passes no
request.extra, so the steps are the knob): they are calibrated so a bare shot takes about 1 s.

Measurements are interleaved (ABBA order) and repeated; summaries use medians. Every process
runs torch with one thread (OMP_WAIT_POLICY=PASSIVE), because the machine has two cores, except
one P2 row that uses a thread per core, as a worker does by default; only the bare child runs
then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ray

from pipeline.errors import WorkerError
from pipeline.render.actors import RenderActorClient, start_render_actors
from pipeline.render.cluster import NAMESPACE, connect
from pipeline.render.queue import EngineChoice, build_prompt, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.worker.requests import RenderRequest
from pipeline.worker.settings import WorkerSettings
from storage import jobs, plan, projects, takes
from storage.db import open_db
from storage.models import Job

REPO = Path(__file__).resolve().parent.parent
THREAD_ENV = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "SHOWRUNNER_TORCH_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
# the project (and so every render request): a small 9:16 frame, a 2 s shot
FRAME = {"width": 180, "height": 320, "fps": 12}
SHOT_SECONDS = 2.0
SHOT = plan.ShotPlan(
    "A mortal stands against the water god on a rugged shore", "wide", SHOT_SECONDS, "Kneel!"
)
TARGET_BARE_S = 1.0
CALIBRATION_STEPS = (4, 16)
MIN_STEPS = 4
RENDER_TIMEOUT = 180.0
WORKER_DONE = re.compile(r"job (\w+) done in ([0-9.]+)s")
BATCH_TAKES = 4
# the throughput batch: shots rendered on one actor, then on two (each on a node of its own)
THROUGHPUT_SHOTS = 16
ACTOR_ENV = WorkerSettings(device="cpu", torch_threads=1).to_env()


# ---------------------------------------------------------------- helpers shared by all roles


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """Resident set size (or VmHWM, its peak) of a process in MB, from /proc; 0 if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def heavy_modules() -> dict[str, bool]:
    return {name: name in sys.modules for name in ("torch", "diffusers", "transformers")}


def child_env() -> dict[str, str]:
    env = {**os.environ, **THREAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def protocol_stdout() -> IO[str]:
    """The real stdout, kept for result lines; anything else printed goes to stderr."""
    out = sys.stdout
    sys.stdout = sys.stderr
    return out


def send(out: IO[str], data: dict[str, Any]) -> None:
    out.write(json.dumps(data) + "\n")
    out.flush()


def failure(error: BaseException) -> dict[str, Any]:
    traceback.print_exception(error, file=sys.stderr)
    return {"error": f"{type(error).__name__}: {error}"}


# ---------------------------------------------------------------- the bare diffusers child


class BareSession:
    """Torch side: the model loaded in this process and called directly."""

    def __init__(self) -> None:
        self.pipe: Any = None
        self.torch: Any = None

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        handlers: dict[str, Callable[..., dict[str, Any]]] = {
            "setup": self.setup,
            "shot": self.shot,
            "batch": self.batch,
        }
        name = command.pop("cmd")
        return handlers[name](**command)

    def setup(self, model_dir: str) -> dict[str, Any]:
        started = time.perf_counter()
        import torch
        from diffusers import AutoPipelineForText2Image

        torch.set_num_threads(1)
        self.torch = torch
        imported = time.perf_counter()
        from pipeline.worker.tiny_models.keyframe import make_tiny_model

        make_tiny_model(Path(model_dir))
        built = time.perf_counter()
        pipe = AutoPipelineForText2Image.from_pretrained(model_dir, dtype=torch.float32)
        self.pipe = pipe.to("cpu")
        self.pipe.set_progress_bar_config(disable=True)
        loaded = time.perf_counter()
        return {
            "import_s": imported - started,
            "build_s": built - imported,
            "load_s": loaded - built,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "pid": os.getpid(),
        }

    def _generators(self, seeds: list[int]) -> list[Any]:
        return [self.torch.Generator("cpu").manual_seed(seed) for seed in seeds]

    def _call(self, prompt: str, seeds: list[int], steps: int, size: tuple[int, int]) -> Any:
        return self.pipe(
            prompt=prompt,
            negative_prompt=None,
            num_images_per_prompt=len(seeds),
            generator=self._generators(seeds),
            num_inference_steps=steps,
            width=size[0],
            height=size[1],
        ).images

    def keyframe(self, prompt: str) -> tuple[int, int]:
        """The keyframe size the engine picks for the project's frame (no extra given)."""
        from pipeline.worker.engines.diffusers_keyframe import keyframe_size

        request = RenderRequest("size", "diffusers", prompt, (0,), SHOT_SECONDS, **FRAME)
        return keyframe_size(self.pipe, request)

    def shot(self, prompt: str, steps: int, out_dir: str, tag: str) -> dict[str, Any]:
        """One take, as the engine makes it: one pipeline call, save the still, make the clip."""
        from pipeline.worker.engines.clip import still_to_clip

        size = self.keyframe(prompt)
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        image = self._call(prompt, [12345], steps, size)[0]
        denoised = time.perf_counter()
        still = folder / f"{tag}.png"
        image.save(still)
        still_to_clip(still, folder / f"{tag}.mp4", duration=SHOT_SECONDS, move="push-in", **FRAME)
        done = time.perf_counter()
        return {
            "total_s": done - started,
            "denoise_s": denoised - started,
            "clip_s": done - denoised,
            "keyframe": list(size),
        }

    def batch(
        self, prompt: str, steps: int, scale: int, threads: int, batched_first: bool
    ) -> dict[str, Any]:
        """BATCH_TAKES takes in one call vs one call per take, same steps, size and threads."""
        self.torch.set_num_threads(threads)
        width, height = self.keyframe(prompt)
        size = (width * scale, height * scale)
        seeds = list(range(1, BATCH_TAKES + 1))
        times: dict[str, float] = {}

        def batched() -> None:
            started = time.perf_counter()
            images = self._call(prompt, seeds, steps, size)
            times["batched_s"] = time.perf_counter() - started
            assert len(images) == BATCH_TAKES

        def sequential() -> None:
            started = time.perf_counter()
            for seed in seeds:
                self._call(prompt, [seed], steps, size)
            times["sequential_s"] = time.perf_counter() - started

        try:
            for run in (batched, sequential) if batched_first else (sequential, batched):
                run()
        finally:
            self.torch.set_num_threads(1)
        return {**times, "keyframe": list(size)}


def serve_bare() -> None:
    out = protocol_stdout()
    session = BareSession()
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        try:
            result = session.handle(command)
        except Exception as error:
            result = failure(error)
        send(out, result)


# ---------------------------------------------------------------- the bot-side child (no torch)


class TimedClient(RenderActorClient):
    """The real client; it also remembers how long the last submit took."""

    submit_s: float = 0.0

    async def submit(self, request: RenderRequest) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return await super().submit(request)
        finally:
            self.submit_s = time.perf_counter() - started


@dataclass
class RunMarks:
    """What the scheduler's listener saw during one render, in seconds from the start."""

    started: float = field(default_factory=time.perf_counter)
    first_progress_s: float | None = None
    recorded_s: float | None = None

    def see(self, job: Job) -> None:
        now = time.perf_counter() - self.started
        if job.stage == "keyframe" and self.first_progress_s is None:
            self.first_progress_s = now
        if job.status == "done" and self.recorded_s is None:
            self.recorded_s = now


class BotSession:
    """Bot side: storage, render queue, scheduler and a render actor on a local Ray."""

    def __init__(self) -> None:
        self.root = Path()
        self.model = ""
        self.db: Any = None
        self.project_id = 0
        self.client: TimedClient | None = None
        self.worker_pid = 0
        self.scheduler: Scheduler | None = None
        self.marks = RunMarks()
        self.workers_started = 0

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        handlers: dict[str, Callable[..., Any]] = {
            "setup": self.setup,
            "start_worker": self.start_worker,
            "render": self.render,
            "stop_worker": self.stop_worker,
            "round_trip": self.round_trip,
            "throughput": self.throughput,
            "modules": self.modules,
        }
        name = command.pop("cmd")
        return await handlers[name](**command)  # type: ignore[no-any-return]

    async def setup(self, root: str, model_dir: str) -> dict[str, Any]:
        self.root = Path(root)
        self.model = model_dir
        self.db = open_db(self.root / "studio.db")
        project = projects.create_project(self.db, "Bench", writers_channel_id=1, **FRAME)
        self.project_id = project.id
        rss_before = rss_mb(os.getpid())
        started = time.perf_counter()
        connect()
        ray_s = time.perf_counter() - started
        episode = self._save_episode()
        shot = plan.list_shots(self.db, episode.id)[0]
        return {
            "prompt": build_prompt(self.db, project.id, shot.id),
            "pid": os.getpid(),
            "ray_s": ray_s,
            "ray_rss_mb": rss_mb(os.getpid()) - rss_before,
            **heavy_modules(),
        }

    def _save_episode(self) -> Any:
        draft = plan.EpisodePlan("Bench", "", scenes=(plan.ScenePlan("Shore", "", (SHOT,)),))
        return plan.save_episode_plan(self.db, self.project_id, draft)

    async def start_worker(self) -> dict[str, Any]:
        """A fresh render actor (a new process, nothing warm)."""
        await self.stop_worker()
        self.workers_started += 1
        started = time.perf_counter()
        prefix = f"bench{self.workers_started}"
        [actor] = await start_render_actors(ACTOR_ENV, 1, prefix=prefix)
        ready_s = time.perf_counter() - started
        self.client = TimedClient(actor.name, actor.handle)
        self.worker_pid = int((await self.client.health())["pid"])
        self.scheduler = Scheduler(
            self.db, [self.client], self.root / "bot-media", listener=self._listen
        )
        return {"ready_s": ready_s, "pid": self.worker_pid, "name": actor.name}

    def _listen(self, job: Job) -> None:
        self.marks.see(job)

    async def stop_worker(self) -> dict[str, Any]:
        if self.client is not None:
            ray.kill(self.client.handle, no_restart=True)
        self.client = self.scheduler = None
        return {}

    async def round_trip(self, calls: int = 30) -> dict[str, Any]:
        """Seconds per call of the actor's cheapest method (health) from this process."""
        assert self.client is not None
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await self.client.health()
            times.append(time.perf_counter() - started)
        return {"median_s": median(times), "max_s": max(times)}

    async def throughput(self, steps: int, shots: int) -> dict[str, Any]:
        """`shots` shots on one actor, then on two, on a local two-node cluster."""
        from ray.cluster_utils import Cluster

        await self.stop_worker()
        ray.shutdown()
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "num_gpus": 1, "include_dashboard": False},
        )
        cluster.add_node(num_cpus=1, num_gpus=1)
        try:
            ray.init(address=cluster.address, namespace=NAMESPACE, logging_level="WARNING")
            seconds = {}
            for count in (1, 2):
                actors = await start_render_actors(ACTOR_ENV, count, prefix=f"pair{count}")
                # warm first: a shot on each actor, so both batches time warm renders only
                await self._render_batch(actors, steps, len(actors))
                started = time.perf_counter()
                await self._render_batch(actors, steps, shots)
                seconds[count] = time.perf_counter() - started
                nodes = {(await actor.health())["pid"] for actor in actors}
                for actor in actors:
                    ray.kill(actor.handle, no_restart=True)
            return {"one_s": seconds[1], "two_s": seconds[2], "actor_pids": len(nodes)}
        finally:
            ray.shutdown()
            cluster.shutdown()

    async def _render_batch(self, actors: list[RenderActorClient], steps: int, shots: int) -> None:
        draft = plan.EpisodePlan(
            "Batch", "", scenes=(plan.ScenePlan("Shore", "", (SHOT,) * shots),)
        )
        episode = plan.save_episode_plan(self.db, self.project_id, draft)
        choice = EngineChoice(engine="diffusers", model=self.model, takes=1, steps=steps)
        _, queued = queue_episode_render(self.db, episode.id, choice)
        scheduler = Scheduler(self.db, list(actors), self.root / "bot-media")
        await run_until_idle(scheduler, timeout=RENDER_TIMEOUT * shots)
        for job in queued:
            self._check_done(job)

    async def render(self, steps: int, probe_health: bool = False) -> dict[str, Any]:
        """One shot through the whole path; times from saving the plan to the end."""
        assert self.scheduler is not None and self.client is not None
        worker_pid = self.worker_pid
        peaks: dict[str, float] = {}
        latencies: list[float] = []
        failed: list[float] = []
        background = [asyncio.create_task(self._sample_rss(worker_pid, peaks))]
        if probe_health:
            background.append(asyncio.create_task(self._probe_health(latencies, failed)))
        self.marks = RunMarks()
        try:
            episode = self._save_episode()
            choice = EngineChoice(engine="diffusers", model=self.model, takes=1, steps=steps)
            _, queued = queue_episode_render(self.db, episode.id, choice)
            await run_until_idle(self.scheduler, timeout=RENDER_TIMEOUT)
            total_s = time.perf_counter() - self.marks.started
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        return {
            **self._check_done(queued[0]),
            "total_s": total_s,
            "recorded_s": self.marks.recorded_s,
            "first_progress_s": self.marks.first_progress_s,
            "submit_s": self.client.submit_s,
            "bot_rss_mb": peaks.get("bot", 0.0),
            "worker_rss_mb": peaks.get("worker", 0.0),
            "bot_hwm_mb": rss_mb(os.getpid(), "VmHWM"),
            "worker_hwm_mb": rss_mb(worker_pid, "VmHWM"),
            "health_max_s": max(latencies, default=0.0),
            "health_probes": len(latencies),
            "health_failed": len(failed),
            **heavy_modules(),
        }

    def _check_done(self, queued: Job) -> dict[str, Any]:
        job = jobs.get_job(self.db, queued.id)
        if job.status != "done":
            raise RuntimeError(f"job {job.id} ended {job.status}: {job.error}")
        assert job.shot_id is not None
        recorded = takes.takes_for_shot(self.db, job.shot_id)
        if len(recorded) != 1 or not Path(recorded[0].media_path).is_file():
            raise RuntimeError(f"job {job.id}: expected one downloaded take, got {recorded}")
        return {"job_id": job.id, "media_bytes": Path(recorded[0].media_path).stat().st_size}

    async def _sample_rss(self, worker_pid: int, peaks: dict[str, float]) -> None:
        while True:
            for name, pid in (("bot", os.getpid()), ("worker", worker_pid)):
                peaks[name] = max(peaks.get(name, 0.0), rss_mb(pid))
            await asyncio.sleep(0.1)

    async def _probe_health(self, latencies: list[float], failed: list[float]) -> None:
        """Health calls while the actor starts its first job: is its event loop free?

        A call gets 5 s; one that runs out counts as failed.
        """
        assert self.client is not None
        while True:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    await self.client.health()
            except (WorkerError, TimeoutError):
                failed.append(time.perf_counter() - started)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.1)

    async def modules(self) -> dict[str, Any]:
        return {**heavy_modules(), "pid": os.getpid(), "rss_mb": rss_mb(os.getpid())}

    async def close(self) -> None:
        if ray.is_initialized():
            await self.stop_worker()
        if self.db is not None:
            self.db.close()


async def serve_bot() -> None:
    out = protocol_stdout()
    session = BotSession()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or json.loads(line)["cmd"] == "quit":
                break
            try:
                result = await session.handle(json.loads(line))
            except Exception as error:
                result = failure(error)
            send(out, result)
    finally:
        await session.close()


# ---------------------------------------------------------------- the orchestrator


class Child:
    """A role subprocess that answers one JSON line per JSON command line."""

    def __init__(self, role: str, log_path: Path) -> None:
        self.role = role
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--role", role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=REPO,
            env=child_env(),
        )

    def ask(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.role} child exited:\n{self.log_tail()}")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"{self.role} {cmd}: {result['error']}\n{self.log_tail()}")
        return result

    def log_tail(self, lines: int = 25) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self.log.close()


def stop_leftover(pids: Iterable[int]) -> None:
    """Workers we started whose bot child did not stop them (only if the child crashed)."""
    for pid in pids:
        if rss_mb(pid) > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def say(text: str = "") -> None:
    print(text, flush=True)


def fit_steps(denoise: dict[int, float], clip_s: float, target: float) -> tuple[int, float, float]:
    """Steps for a bare shot of about `target` s: a line through the pipeline call's time at
    two step counts, plus the clip step (fitted apart: ffmpeg's time is the noisier one)."""
    (low, t_low), (high, t_high) = sorted(denoise.items())
    per_step = max((t_high - t_low) / (high - low), 1e-3)
    fixed = max(0.0, t_low - low * per_step) + clip_s
    steps = round((target - fixed) / per_step)
    return max(MIN_STEPS, min(100, steps)), per_step, fixed


@dataclass
class Results:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((name, value, target, verdict))

    def table(self) -> str:
        header = ("measure", "value", "target", "met")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in [header, *self.rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(line.rstrip() for line in lines)


def yes_no(ok: bool) -> str:
    return "yes" if ok else "NO"


def worker_times(log_path: Path) -> dict[str, float]:
    """job id -> seconds the worker's engine.render took, from the worker's own log."""
    text = log_path.read_text(errors="replace")
    return {match[1]: float(match[2]) for match in WORKER_DONE.finditer(text)}


@dataclass
class Bench:
    root: Path
    rounds: int
    steps: int | None
    bare: Child
    bot: Child
    results: Results = field(default_factory=Results)
    worker_pids: list[int] = field(default_factory=list)
    prompt: str = ""

    def setup(self) -> None:
        model_dir = str(self.root / "tiny-model")
        info = self.bare.ask("setup", model_dir=model_dir)
        say(
            f"bare child (pid {info['pid']}): torch {info['torch']}, {info['threads']} thread; "
            f"import torch+diffusers {info['import_s']:.2f} s, build tiny model "
            f"{info['build_s']:.2f} s, from_pretrained {info['load_s']:.2f} s"
        )
        bot = self.bot.ask("setup", root=str(self.root), model_dir=model_dir)
        self.prompt = bot["prompt"]
        say(
            f"bot child (pid {bot['pid']}): torch imported = {bot['torch']}; a local Ray "
            f"started in {bot['ray_s']:.2f} s, its client adds {bot['ray_rss_mb']:.0f} MB here"
        )
        self.results.add(
            "Ray start (local) / its client's RSS",
            f"{bot['ray_s']:.2f} s / {bot['ray_rss_mb']:.0f} MB",
        )
        say(f"prompt: {self.prompt!r}")

    def bare_shot(self, steps: int, tag: str) -> dict[str, Any]:
        out_dir = str(self.root / "bare-media")
        return self.bare.ask("shot", prompt=self.prompt, steps=steps, out_dir=out_dir, tag=tag)

    def calibrate(self) -> int:
        say("\n== calibration: steps for a ~1 s bare shot (pipeline call + still_to_clip)")
        warmup = self.bare_shot(2, "warmup")
        keyframe = warmup["keyframe"]
        say(
            f"  keyframe {keyframe[0]}x{keyframe[1]} (the engine's choice for this model), "
            f"clip {FRAME['width']}x{FRAME['height']} @{FRAME['fps']} fps, {SHOT_SECONDS} s"
        )
        if self.steps:
            say(f"  --steps {self.steps}: calibration skipped")
            return self.steps
        denoise: dict[int, float] = {}
        clips: list[float] = []
        for steps in CALIBRATION_STEPS:
            runs = [self.bare_shot(steps, f"cal{steps}_{i}") for i in range(3)]
            denoise[steps] = median(run["denoise_s"] for run in runs)
            clips += [run["clip_s"] for run in runs]
            say(
                f"  {steps:3d} steps: pipeline call {denoise[steps]:.3f} s, "
                f"still_to_clip {median(run['clip_s'] for run in runs):.3f} s"
            )
        steps, per_step, fixed = fit_steps(denoise, median(clips), TARGET_BARE_S)
        say(f"  {per_step * 1000:.1f} ms/step + {fixed:.3f} s fixed -> {steps} steps")
        return steps

    def start_worker(self) -> dict[str, Any]:
        info = self.bot.ask("start_worker")
        self.worker_pids.append(int(info["pid"]))
        return info

    def p7_warm_worker(self, steps: int, rounds: int) -> None:
        say(f"\n== P7 warm actor: first job on a fresh actor vs the second ({rounds} actors)")
        rows = []
        for index in range(rounds):
            ready = self.start_worker()
            cold = self.bot.ask("render", steps=steps, probe_health=True)
            warm = self.bot.ask("render", steps=steps)
            rows.append((ready, cold, warm))
            say(
                f"  actor {index + 1} (pid {ready['pid']}): start->ready "
                f"{ready['ready_s']:.2f} s | job 1 {cold['total_s']:.2f} s (submit "
                f"{cold['submit_s']:.2f} s, first progress {cold['first_progress_s']:.2f} s, "
                f"slowest health probe {cold['health_max_s']:.2f} s, "
                f"{cold['health_failed']}/{cold['health_probes']} timed out) | job 2 "
                f"{warm['total_s']:.2f} s (first progress {warm['first_progress_s']:.2f} s) "
                f"| ratio {cold['total_s'] / warm['total_s']:.2f}"
            )
        cold_s = median(cold["total_s"] for _, cold, _ in rows)
        warm_s = median(warm["total_s"] for _, _, warm in rows)
        load_s = median(c["first_progress_s"] - w["first_progress_s"] for _, c, w in rows)
        ready_s = median(ready["ready_s"] for ready, _, _ in rows)
        probe_s = median(cold["health_max_s"] for _, cold, _ in rows)
        submit_s = median(cold["submit_s"] for _, cold, _ in rows)
        failed = sum(cold["health_failed"] for _, cold, _ in rows)
        probes = sum(cold["health_probes"] for _, cold, _ in rows)
        say(
            f"  median: job 1 {cold_s:.2f} s, job 2 {warm_s:.2f} s, ratio "
            f"{cold_s / warm_s:.2f}; load (first progress, job 1 - job 2) {load_s:.2f} s, "
            f"of which the submit call (engine import, in a thread of the actor) {submit_s:.2f} s"
        )
        self.results.add("P7 actor start -> ready", f"{ready_s:.2f} s")
        self.results.add("P7 load (first-progress delay)", f"{load_s:.2f} s")
        self.results.add("P7 job 1 / job 2 (fresh / warm)", f"{cold_s / warm_s:.2f}x")
        self.results.add("P7 job 1 submit (engine import)", f"{submit_s:.2f} s")
        self.results.add(
            "P7 slowest health call, job 1", f"{probe_s:.2f} s ({failed}/{probes} timed out)"
        )

    def p1_overhead(self, steps: int) -> None:
        say(f"\n== P1 overhead: bare diffusers call vs the full path ({self.rounds} rounds, ABBA)")
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for index in range(self.rounds):
            if index % 2 == 0:
                bare = self.bare_shot(steps, f"p1_{index}")
                full = self.bot.ask("render", steps=steps)
            else:
                full = self.bot.ask("render", steps=steps)
                bare = self.bare_shot(steps, f"p1_{index}")
            pairs.append((bare, full))
        time.sleep(1.0)  # the actor's log lines reach the bot's stderr through Ray, a moment late
        rendered = worker_times(self.bot.log_path)
        for index, (bare, full) in enumerate(pairs, start=1):
            engine_s = rendered.get(full["job_id"], float("nan"))
            full["engine_s"] = engine_s
            say(
                f"  run {index}: bare {bare['total_s']:.3f} s (denoise {bare['denoise_s']:.3f}, "
                f"clip {bare['clip_s']:.3f}) | full {full['total_s']:.3f} s (takes recorded "
                f"{full['recorded_s']:.3f}, actor engine.render {engine_s:.2f}, path overhead "
                f"{full['total_s'] - engine_s:.2f}) | ratio {full['total_s'] / bare['total_s']:.3f}"
            )
        self._p1_summary(pairs)

    def _p1_summary(self, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        bare_s = median(bare["total_s"] for bare, _ in pairs)
        full_s = median(full["total_s"] for _, full in pairs)
        recorded_s = median(full["recorded_s"] for _, full in pairs)
        ratio = median(full["total_s"] / bare["total_s"] for bare, full in pairs)
        recorded = median(full["recorded_s"] / bare["total_s"] for bare, full in pairs)
        overhead = median(full["total_s"] - full["engine_s"] for _, full in pairs)
        to_record = median(full["recorded_s"] - full["engine_s"] for _, full in pairs)
        to_idle = median(full["total_s"] - full["recorded_s"] for _, full in pairs)
        say(
            f"  median: bare {bare_s:.3f} s, full {full_s:.3f} s (takes recorded at "
            f"{recorded_s:.3f} s); ratio full/bare {ratio:.3f} (to takes recorded "
            f"{recorded:.3f})"
        )
        say(
            f"  per-job dispatch overhead (full - actor engine.render): {overhead:.3f} s"
            f" = {overhead / bare_s:.1%} of the median bare shot; of it {to_record:.3f} s until"
            f" takes are recorded, {to_idle:.3f} s until run_until_idle returns"
        )
        self.results.add("P1 bare shot", f"{bare_s:.3f} s", "~1 s")
        self.results.add("P1 full path (run_until_idle)", f"{full_s:.3f} s")
        self.results.add("P1 full / bare", f"{ratio:.3f}", "<= 1.05", yes_no(ratio <= 1.05))
        self.results.add(
            "P1 takes recorded / bare", f"{recorded:.3f}", "<= 1.05", yes_no(recorded <= 1.05)
        )
        self.results.add("per-job dispatch overhead (full - engine)", f"{overhead:.3f} s")
        bot_mb = max(full["bot_rss_mb"] for _, full in pairs)
        worker_mb = max(full["worker_rss_mb"] for _, full in pairs)
        last = pairs[-1][1]
        say(
            f"  while the actor rendered (largest sample, every 0.1 s): bot-side RSS "
            f"{bot_mb:.0f} MB (VmHWM {last['bot_hwm_mb']:.0f}, Ray's client included), "
            f"actor RSS {worker_mb:.0f} MB "
            f"(VmHWM {last['worker_hwm_mb']:.0f}); torch in the bot's sys.modules: "
            f"{any(full['torch'] for _, full in pairs)}"
        )
        self.results.add("bot-side RSS while rendering (Ray client incl.)", f"{bot_mb:.0f} MB")
        self.results.add("actor RSS while rendering", f"{worker_mb:.0f} MB")

    def round_trip(self) -> None:
        say("\n== an actor call from the bot (health, 30 calls, warm actor)")
        trip = self.bot.ask("round_trip")
        say(f"  median {trip['median_s'] * 1000:.1f} ms, slowest {trip['max_s'] * 1000:.1f} ms")
        self.results.add("actor call round trip (median)", f"{trip['median_s'] * 1000:.1f} ms")

    def throughput(self, steps: int) -> None:
        say(
            f"\n== throughput: {THROUGHPUT_SHOTS} shots on one actor vs two, a local two-node "
            "cluster (1 CPU + 1 logical GPU a node, one torch thread an actor)"
        )
        bare_ratio = self._bare_throughput(steps)
        result = self.bot.ask("throughput", steps=steps, shots=THROUGHPUT_SHOTS)
        ratio = result["one_s"] / result["two_s"]
        say(
            f"  one actor {result['one_s']:.2f} s, two actors {result['two_s']:.2f} s "
            f"({result['actor_pids']} processes): {ratio:.2f}x, {ratio / bare_ratio:.0%} of "
            "what two bare processes gain here"
        )
        self.results.add("two bare processes / one (this machine)", f"{bare_ratio:.2f}x")
        self.results.add(
            "two actors / one (throughput)", f"{ratio:.2f}x", ">= 1.8x", yes_no(ratio >= 1.8)
        )

    def p2_batching(self, steps: int) -> None:
        """At one torch thread (as every other figure here) and at one per core, which is what
        a worker uses unless SHOWRUNNER_TORCH_THREADS says otherwise."""
        small = max(2, steps // 4)
        cores = os.cpu_count() or 1
        say(f"\n== P2 batching: {BATCH_TAKES} takes in one call vs {BATCH_TAKES} calls")
        plans = (
            (1, steps, 7, 1, "P2, 1 thread"),
            (1, steps, 7, cores, f"P2, {cores} threads (worker default)"),
            (2, small, 3, 1, "P2 (2x keyframe), 1 thread"),
        )
        for scale, run_steps, rounds, threads, label in plans:
            runs = [
                self.bare.ask(
                    "batch",
                    prompt=self.prompt,
                    steps=run_steps,
                    scale=scale,
                    threads=threads,
                    batched_first=index % 2 == 0,
                )
                for index in range(rounds)
            ]
            size = runs[0]["keyframe"]
            for index, run in enumerate(runs, start=1):
                say(
                    f"  {size[0]}x{size[1]}, {run_steps} steps, {threads} thread(s), run {index}: "
                    f"batched {run['batched_s']:.3f} s, sequential {run['sequential_s']:.3f} s, "
                    f"speed-up {run['sequential_s'] / run['batched_s']:.2f}x"
                )
            speedup = median(run["sequential_s"] / run["batched_s"] for run in runs)
            batched = median(run["batched_s"] for run in runs)
            say(
                f"  median at {size[0]}x{size[1]}, {threads} thread(s): speed-up {speedup:.2f}x "
                f"(batched call {batched:.3f} s)"
            )
            target = ">= 1.5x" if scale == 1 else ""
            verdict = yes_no(speedup >= 1.5) if scale == 1 else ""
            self.results.add(f"{label} {size[0]}x{size[1]}", f"{speedup:.2f}x", target, verdict)

    def _bare_throughput(self, steps: int) -> float:
        """The machine's own ceiling: the same shots as plain pipeline calls in one bare
        process, then split over two bare processes running at once."""
        second = Child("bare", self.root / "bare2.log")
        out_dir = str(self.root / "bare-media")

        def shots(child: Child, count: int, tag: str) -> None:
            for index in range(count):
                child.ask(
                    "shot", prompt=self.prompt, steps=steps, out_dir=out_dir, tag=f"{tag}{index}"
                )

        try:
            second.ask("setup", model_dir=str(self.root / "tiny-model-2"))
            started = time.perf_counter()
            shots(self.bare, THROUGHPUT_SHOTS, "one")
            one_s = time.perf_counter() - started
            started = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                halves = [
                    pool.submit(shots, child, THROUGHPUT_SHOTS // 2, f"two{number}")
                    for number, child in enumerate((self.bare, second))
                ]
                for half in halves:
                    half.result()
            two_s = time.perf_counter() - started
        finally:
            second.close()
        say(f"  bare: one process {one_s:.2f} s, two processes {two_s:.2f} s: {one_s / two_s:.2f}x")
        return one_s / two_s

    def bot_process(self) -> None:
        say("\n== bot process")
        bot = self.bot.ask("modules")
        say(
            f"  bot child (pid {bot['pid']}): RSS {bot['rss_mb']:.0f} MB; 'torch' in "
            f"sys.modules: {bot['torch']}, 'diffusers': {bot['diffusers']}, "
            f"'transformers': {bot['transformers']}"
        )
        here = heavy_modules()
        say(f"  this orchestrator: 'torch' in sys.modules: {here['torch']}")
        self.results.add(
            "torch in bot-side sys.modules", str(bot["torch"]), "False", yes_no(not bot["torch"])
        )


@contextlib.contextmanager
def work_dir(keep: bool) -> Iterator[Path]:
    if keep:
        yield Path(tempfile.mkdtemp(prefix="showrunner-bench-"))
        return
    with tempfile.TemporaryDirectory(prefix="showrunner-bench-") as tmp:
        yield Path(tmp)


def run_bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    with work_dir(args.keep) as root:
        say(f"work dir {root}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
        bare = Child("bare", root / "bare.log")
        bot = Child("bot", root / "bot.log")
        bench = Bench(root, args.rounds, args.steps, bare, bot)
        try:
            bench.setup()
            steps = bench.calibrate()
            bench.p7_warm_worker(steps, args.workers)
            bench.p1_overhead(steps)
            bench.round_trip()
            bench.p2_batching(steps)
            bench.bot_process()
            bench.throughput(steps)
        finally:
            bot.close()
            bare.close()
            stop_leftover(bench.worker_pids)
        say(f"\n== summary ({time.perf_counter() - started:.0f} s in all)")
        say(bench.results.table())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("bench", "bare", "bot"), default="bench")
    parser.add_argument("--rounds", type=int, default=7, help="P1 rounds (default 7)")
    parser.add_argument("--workers", type=int, default=3, help="fresh workers for P7")
    parser.add_argument("--steps", type=int, default=None, help="skip the ~1 s calibration")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    if args.role == "bare":
        serve_bare()
    elif args.role == "bot":
        asyncio.run(serve_bot())
    else:
        for key, value in THREAD_ENV.items():
            os.environ.setdefault(key, value)
        run_bench(args)


if __name__ == "__main__":
    main()
