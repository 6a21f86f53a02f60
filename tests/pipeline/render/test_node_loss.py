"""A GPU host lost mid-render: the job finishes on the remaining one.

A local two-node cluster (ray.cluster_utils.Cluster: a head without GPUs and two nodes with
one logical GPU each) in a process of its own (this test process is already joined to the
test run's Ray): one render actor per GPU, one shot rendering on the animatic engine, and the
node of the actor rendering it removed mid-job.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ray

from pipeline.render.actors import start_render_actors
from pipeline.render.cluster import connect
from pipeline.render.queue import EngineChoice, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from storage import jobs, plan, projects, takes
from storage.db import open_db
from storage.status import JobStatus
from tests.ray_cluster import cpu_worker_env

REPO = Path(__file__).resolve().parents[3]
NODE = {"num_cpus": 1, "num_gpus": 1, "object_store_memory": 80 * 1024 * 1024}


async def lose_a_node_mid_render(root: Path) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    head = {**NODE, "num_gpus": 0, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    nodes = [cluster.add_node(**NODE) for _ in range(2)]
    try:
        info = connect(cluster.address)
        db = open_db(root / "studio.db")
        project = projects.create_project(
            db, "Node loss", writers_channel_id=1, width=360, height=640, fps=24
        )
        shot = plan.ShotPlan("The tide rises over the shore", "wide", 8.0)
        draft = plan.EpisodePlan("One", "", scenes=(plan.ScenePlan("Shore", "", (shot,)),))
        episode = plan.save_episode_plan(db, project.id, draft)
        actors = await start_render_actors(cpu_worker_env())  # one per GPU
        actor_nodes = {a.name: (await a.health())["node"] for a in actors}
        _, [job] = queue_episode_render(db, episode.id, EngineChoice(engine="animatic"))
        run = asyncio.create_task(run_until_idle(Scheduler(db, actors, root / "media"), 120))
        while (current := jobs.get_job(db, job.id)).progress <= 0.05:
            await asyncio.sleep(0.05)
        lost = actor_nodes[current.worker or ""]
        cluster.remove_node(next(node for node in nodes if node.node_id == lost))
        await run
        final = jobs.get_job(db, job.id)
        assert final.shot_id is not None
        return {
            "gpus": info.gpus,
            "actors": sorted(actor_nodes),
            "nodes": len(set(actor_nodes.values())),
            "first_actor": current.worker,
            "status": final.status,
            "attempts": final.attempts,
            "final_actor": final.worker,
            "takes": len(takes.takes_for_shot(db, final.shot_id)),
            "error": final.error,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_lost_node_s_job_finishes_once_on_the_remaining_node(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["gpus"] == 2
    # one render actor per GPU, each on a node of its own
    assert result["actors"] == ["render-0", "render-1"] and result["nodes"] == 2
    assert result["status"] == JobStatus.DONE, result["error"]
    assert result["attempts"] == 2  # the lost attempt is counted where users see it
    assert result["final_actor"] != result["first_actor"]
    assert result["takes"] == 1  # finished once: no duplicate take


if __name__ == "__main__":
    outcome = asyncio.run(lose_a_node_mid_render(Path(sys.argv[1])))
    print(json.dumps(outcome))
