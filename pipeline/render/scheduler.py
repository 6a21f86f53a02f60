"""The scheduler: queued jobs -> idle render actors -> takes in the database.

Runs in the bot (or CLI) process as an asyncio task. SQLite is the record of truth: a job's
status, attempts and progress live in the jobs table, and Ray never retries a call on its own.
The bot learns of finished shots and cuts from the events outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from pipeline.cut.jobs import CutJobs
from pipeline.errors import BadRequest, WorkerError, WorkerGone
from pipeline.render.actors import RenderActorClient
from pipeline.render.payload import RenderPayload
from pipeline.render.queue import prepare_render_request
from pipeline.render.results import record_music_piece, record_spoken_line, record_takes
from pipeline.sound.music_jobs import (
    MUSIC,
    MusicPayload,
    episodes_being_scored,
    music_failed,
    music_request,
)
from pipeline.sound.speech_jobs import SPEECH, line_failed, shots_being_spoken, speech_request
from pipeline.workflow import queue_waiting_clips
from storage import events, jobs, plan
from storage.errors import ShowrunnerError
from storage.models import Job
from storage.status import JobStatus, ShotStatus

log = logging.getLogger(__name__)
JobListener = Callable[[Job], None]
ACTOR_BACK_POLL = 1.0


class Scheduler:
    def __init__(
        self,
        db: sqlite_utils.Database,
        workers: list[RenderActorClient],
        media_dir: Path,
        listener: JobListener | None = None,
        segment_cache_bytes: int | None = None,
    ) -> None:
        self.db = db
        self.workers = workers
        self.media_dir = media_dir
        self.listener = listener
        self._busy: set[str] = set()
        self._reattach: dict[str, str] = {}  # recovered job id -> the actor that may have it
        # job id -> the actor it was on when that actor died: its retry goes elsewhere if it can
        self._avoid: dict[str, str] = {}
        # actors that died mid-job, given no job until Ray has them back (their health answers)
        self._gone: set[str] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        # worker -> the models of the last job it rendered: what its pipeline cache holds warm
        self._warm: dict[str, tuple[str, ...]] = {}
        self._wake = asyncio.Event()
        self.settled = asyncio.Event()  # set whenever a job task ends
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._renders: dict[str, asyncio.Task[Any]] = {}  # job id -> the task following it
        self.cuts = CutJobs(db, media_dir, self._notify, lambda: self._stopped, segment_cache_bytes)

    def wake(self) -> None:
        self._wake.set()

    def recover(self) -> None:
        """Jobs left running by a previous process go back to the queue.

        Resubmitting keeps the job id, so an actor that still has the job (actors are detached:
        they outlive the bot) reattaches to it instead of rendering it twice; so each goes back
        to its previous actor when that actor is still there and free (an actor that lost the
        job renders it again).
        """
        queue_waiting_clips(self.db)
        configured = {worker.name for worker in self.workers}
        for job in jobs.jobs_with_status(self.db, JobStatus.RUNNING):
            jobs.requeue_job(self.db, job.id)
            if job.worker in configured:
                self._reattach[job.id] = job.worker
            if (
                job.shot_id is not None
                and plan.get_shot(self.db, job.shot_id).status == ShotStatus.RENDERING
            ):
                plan.set_shot_status(self.db, job.shot_id, ShotStatus.QUEUED)

    def stop(self) -> None:
        """Ask `run` to return after its current pass (running jobs are cancelled)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        self.recover()
        self._stopped = False
        self._gone.clear()  # an actor still away is waited for again when a job fails on it
        try:
            while not self._stopped:
                self._dispatch()
                self._wake.clear()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
        finally:
            self._stopped = True  # the cuts' warming stops after its current segment
            for task in [*self._tasks, *self._watchers]:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._watchers, return_exceptions=True)
            await self.cuts.wait_for_warming()

    def cancel(self, job_id: str) -> None:
        """Cancel a queued or running render job: it ends 'cancelled', its shot 'planned'.

        A running job's task stops following it at once, so no take is recorded even if the
        worker finishes anyway, and the worker is told to stop (in the background).
        """
        before = jobs.get_job(self.db, job_id)
        jobs.cancel_render_job(self.db, job_id)
        self._reattach.pop(job_id, None)
        task = self._renders.pop(job_id, None)
        if task is not None:
            task.cancel()
        worker = next((w for w in self.workers if w.name == before.worker), None)
        if before.status == JobStatus.RUNNING and worker is not None:
            self._spawn(self._stop_on_worker(worker, job_id))
        self._notify(job_id)

    async def _stop_on_worker(self, worker: RenderActorClient, job_id: str) -> None:
        try:
            async with asyncio.timeout(10):
                await worker.cancel(job_id)
        except (WorkerError, TimeoutError) as error:
            log.warning("could not tell %s to cancel job %s: %s", worker.name, job_id, error)

    def idle(self) -> bool:
        return not self._tasks and not jobs.jobs_with_status(self.db, JobStatus.QUEUED)

    def _dispatch(self) -> None:
        # recovered jobs go first, each to the worker that may still have it, so that a fresh
        # job cannot take that worker and leave the recovered one to be rendered twice
        queued = jobs.jobs_with_status(self.db, JobStatus.QUEUED)
        queued.sort(key=lambda job: job.id not in self._reattach)
        wanted = {models_of(job) for job in queued if job.kind in ON_WORKERS}
        being_spoken = shots_being_spoken(self.db)
        being_scored = episodes_being_scored(self.db)
        for job in queued:
            if job.kind == "assemble" and job.episode_id in being_scored:
                continue  # the cut lays the model's music under the scenes: it waits for it
            if job.kind not in ON_WORKERS:  # a cut or a delivery copy, made here
                cut = self.cuts.start(job)
                if cut is not None:
                    self._spawn(cut)
            elif job.kind == "render" and job.shot_id in being_spoken:
                continue  # its shot's length is known once its line is spoken
            else:
                worker = self._free_worker(
                    self._reattach.get(job.id), models_of(job), wanted, self._avoid.get(job.id)
                )
                if worker is None:
                    continue
                self._reattach.pop(job.id, None)
                self._avoid.pop(job.id, None)
                self._busy.add(worker.name)
                self._spawn(self._run_render(job, worker))
        self.cuts.prewarm()

    def _free_worker(
        self,
        preferred: str | None = None,
        models: tuple[str, ...] = (),
        wanted: set[tuple[str, ...]] | None = None,
        avoid: str | None = None,
    ) -> RenderActorClient | None:
        """An idle actor: `preferred` if it is idle, else one the job did not just lose, else
        one with the job's models warm, else one whose warm models no queued job wants
        (loading evicts them), else the first idle one in order."""
        free = [
            worker
            for worker in self.workers
            if worker.name not in self._busy and worker.name not in self._gone
        ]
        wanted = wanted or set()

        def rank(worker: RenderActorClient) -> tuple[bool, bool, bool, bool]:
            warm = self._warm.get(worker.name)
            return (worker.name != preferred, worker.name == avoid, warm != models, warm in wanted)

        return min(free, key=rank, default=None)

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.error("scheduler task crashed", exc_info=task.exception())
        self._wake.set()
        self.settled.set()

    def _notify(self, job_id: str) -> None:
        if self.listener:
            self.listener(jobs.get_job(self.db, job_id))

    async def _run_render(self, job: Job, worker: RenderActorClient) -> None:
        # registered here, not at spawn: a task cancelled before it starts skips its finally
        task = asyncio.current_task()
        if task is not None:
            self._renders[job.id] = task
        try:
            if jobs.get_job(self.db, job.id).status != JobStatus.QUEUED:
                return  # cancelled between dispatch and start
            job = jobs.start_job(self.db, job.id, worker.name)
            if job.kind == SPEECH:
                request, note = speech_request(self.db, job), ""
            elif job.kind == MUSIC:
                request, note = music_request(job), ""
            else:
                assert job.shot_id is not None
                plan.set_shot_status(self.db, job.shot_id, ShotStatus.RENDERING)
                request, note = await prepare_render_request(self.db, job)
            self._notify(job.id)
            if note:
                jobs.report_progress(self.db, job.id, 0.0, note)
                self._notify(job.id)
            # what the worker holds warm is unknown until this job is done
            self._warm.pop(worker.name, None)
            accepted = await worker.submit(request)
            if accepted.get("reattached"):
                jobs.reattached(self.db, job.id)
            final: dict = {}
            async for state in worker.follow(job.id):
                final = state
                if state.get("status") == "running":
                    jobs.report_progress(
                        self.db,
                        job.id,
                        float(state.get("progress", 0)),
                        str(state.get("stage", "")),
                    )
                    self._notify(job.id)
            if final.get("status") != "done":
                reason = final.get("error") or f"job ended as {final.get('status')}"
                if final.get("retryable") is False:
                    raise BadRequest(reason)
                raise WorkerError(reason)
            self._warm[worker.name] = models_of(job)
            if job.kind == SPEECH:
                await record_spoken_line(self.db, self.media_dir, job, worker, final)
            elif job.kind == MUSIC:
                await record_music_piece(self.db, self.media_dir, job, worker, final)
            else:
                await record_takes(self.db, self.media_dir, job, worker, request, final, note)
            self._notify(job.id)
        except BadRequest as error:
            # a value the engine cannot render: the same request would fail again anywhere
            self._render_failed(job, str(error), retry=False)
        except WorkerGone as error:
            # Ray restarts the actor (or places it again when its node is lost): it gets no
            # job until it is back, and this job's retry goes to another actor if there is one
            self._avoid[job.id] = worker.name
            if worker.name not in self._gone:
                self._gone.add(worker.name)
                # not one of self._tasks: the queue can be idle while an actor is away
                watcher = asyncio.create_task(self._until_back(worker))
                self._watchers.add(watcher)
                watcher.add_done_callback(self._watchers.discard)
            self._render_failed(job, str(error))
        except (TimeoutError, OSError, ShowrunnerError) as error:
            self._render_failed(job, f"{error}" or type(error).__name__)
        except Exception as error:  # never leave a job 'running' behind
            log.exception("render job %s crashed", job.id)
            self._render_failed(job, f"internal error ({type(error).__name__})")
        finally:
            self._renders.pop(job.id, None)
            self._busy.discard(worker.name)

    async def _until_back(self, worker: RenderActorClient) -> None:
        """Wait for Ray to bring the actor back (a call waits while it restarts, or until its
        node is replaced), then give it jobs again. A call that fails at once finds it killed
        for good: it is started again."""
        while not self._stopped:
            try:
                await worker.health()
                break
            except WorkerError:
                worker.start_again()
                await asyncio.sleep(ACTOR_BACK_POLL)
        self._gone.discard(worker.name)
        self._wake.set()
        log.info("render actor %s is back", worker.name)

    def _render_failed(self, job: Job, reason: str, *, retry: bool = True) -> None:
        log.warning("render job %s failed: %s", job.id, reason)
        current = jobs.get_job(self.db, job.id)
        if current.status != JobStatus.RUNNING:
            return
        with self.db.atomic():
            after = jobs.fail_job(self.db, job.id, reason, retry=retry)
            if job.kind == SPEECH:
                # the shot renders, its line marked unspoken (an audition's has no shot)
                if after.status == JobStatus.FAILED and job.shot_id is not None:
                    line_failed(self.db, job, reason)
            elif job.kind == MUSIC:
                if after.status == JobStatus.FAILED:
                    music_failed(self.db, job, reason)  # its cut composes the score instead
            elif job.shot_id is not None:
                shot = plan.get_shot(self.db, job.shot_id)
                queued = after.status == JobStatus.QUEUED
                target = ShotStatus.QUEUED if queued else ShotStatus.PLANNED
                # a vote, a note or another job may own the shot now
                if shot.status == ShotStatus.RENDERING:
                    plan.set_shot_status(self.db, job.shot_id, target)
            if after.status == JobStatus.FAILED:
                events.emit(self.db, events.JobFailed(job.id))  # the job holds its error
        self._notify(job.id)


ON_WORKERS = ("render", SPEECH, MUSIC)  # the kinds of job workers do; cuts are made here


def models_of(job: Job) -> tuple[str, ...]:
    """The engine and models a job loads on its worker."""
    if job.kind == SPEECH:
        return (SPEECH,)
    if job.kind == MUSIC:
        return (MUSIC, MusicPayload.of(job).model)
    return RenderPayload.of(job).models()


async def run_until_idle(scheduler: Scheduler, timeout: float | None = None) -> None:
    """Run the scheduler until no job is queued or running (the headless CLI uses this)."""
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(timeout):
            while True:
                scheduler.settled.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await scheduler.settled.wait()
                if scheduler.idle():
                    break
                if task.done():
                    task.result()
    finally:
        scheduler.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
