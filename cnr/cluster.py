"""The grid on a cluster engine: each shard of a run's grid is one job of a submitit job array (Slurm, or local
processes that take the same path), the jobs are listed beside the run's results, and `collect` merges the shards'
rows by key and says which cells are still missing, per shard, and which jobs failed, with their logs.

The jobs write into the run's one row store (rows-i-of-k.jsonl per shard), exactly like `cnr grid --shard i/k` on
separate machines, so a shard resubmitted with the same job count resumes where its job stopped.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from cnr.errors import InputError, unknown_name
from cnr.parsing import check_int
from cnr.run import Run

ENGINES = ("slurm", "local")  # submitit's executors: a Slurm job array, or local subprocesses (tests, one machine)
DEVICES = ("auto", "cpu", "cuda")

# set in the job's shell before Python starts: glibc reads the malloc thresholds only at start (cnr.grid.WORKER_ENV)
_STARTUP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                "OMP_WAIT_POLICY": "PASSIVE", "GIT_PYTHON_REFRESH": "quiet", "TQDM_DISABLE": "1"}


@dataclass(frozen=True)
class ClusterConfig:
    """What each job asks the engine for; one job runs one shard of the grid."""

    engine: str = "slurm"
    jobs: int = 8  # shards of the grid, one job each
    partition: str | None = None
    account: str | None = None
    gpus: int = 1  # per job
    cpus: int = 8  # per job; also the job's torch threads
    mem_gb: int | None = None
    timeout_min: int = 24 * 60
    parallel: int | None = None  # at most this many jobs of the array at once (Slurm's %N)


_TEXT_KEYS = ("partition", "account")
_INT_LOWER = {"jobs": 1, "gpus": 0, "cpus": 1, "mem_gb": 1, "timeout_min": 1, "parallel": 1}


def cluster_config(engine: str | None, jobs: int | None = None, items: Iterable[str] = (),
                   clash: Iterable[str] = ()) -> ClusterConfig:
    """The config from `--cluster ENGINE --jobs K --job key=value ...`, every value checked here, once; `clash`
    names the grid's other options that were given, which a submission cannot honour."""
    if engine is None:
        raise InputError("--jobs and --job describe cluster jobs: add --cluster slurm (or --cluster local)")
    if clash := ["--" + c.replace("_", "-") for c in clash]:
        raise InputError(f"--cluster splits the grid into --jobs shards itself; leave out {', '.join(clash)}")
    if engine not in ENGINES:
        raise unknown_name("cluster engine", engine, ENGINES)
    values: dict[str, Any] = {"engine": engine} if jobs is None else {"engine": engine, "jobs": jobs}
    if engine == "local":
        values.update(gpus=0, cpus=1)  # the jobs share this machine's cores, like `cnr grid --workers`
    names = [f.name for f in fields(ClusterConfig) if f.name != "engine"]
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in names:
            raise InputError(f"--job {item!r}: give key=value with key one of {', '.join(names)}")
        if key in _TEXT_KEYS:
            if not text.strip():
                raise InputError(f"--job {key}= is empty; give a name or leave it out")
            values[key] = text.strip()
        else:
            values[key] = check_int(text, f"--job {key}", _INT_LOWER[key], text=True)
    if "jobs" in values:
        values["jobs"] = check_int(values["jobs"], "--jobs", 1)
    return ClusterConfig(**values)


def job_device(requested: str | None, profile_device: str, config: ClusterConfig) -> str:
    """The device the jobs resolve on their node (not here: a login node has no GPU), checked against the GPUs."""
    device = (requested or profile_device).strip().lower()
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise InputError(f"--device {device!r} for cluster jobs: use one of {', '.join(DEVICES)} or cuda:N")
    if config.gpus and device == "cpu":
        raise InputError(f"--job gpus={config.gpus} with --device cpu: the GPUs would sit idle; use --device auto "
                         f"or --job gpus=0")
    if not config.gpus and device.startswith("cuda"):
        raise InputError(f"--device {device} with no GPU per job; add --job gpus=1")
    return device


def jobs_dir(run: Run) -> Path:
    """Where submitit keeps the jobs' scripts, pickles and logs, and where the manifest lists them."""
    return run.out_dir / "cluster"


def manifest_path(run: Run) -> Path:
    return jobs_dir(run) / "jobs.json"


def status_path(run: Run, shard: str) -> Path:
    """The small JSON a job writes when it ends ('done' or 'failed'), so collecting never reads a job's pickle."""
    i, k = shard.split("/")
    return jobs_dir(run) / "status" / f"shard-{i}-of-{k}.json"


def run_shard(run_json: str, shard: str, status: str) -> int:
    """What one job runs: its shard of the grid into the run's row store; returns the rows in the merged table and
    leaves its state, 'done' or 'failed', in the `status` JSON file (the submitter's `status_path`)."""
    from cnr.atomic import write_text
    from cnr.grid import run_grid

    try:
        rows = len(run_grid(Run.from_json(run_json), shard=shard, workers=1))
    except BaseException as e:
        write_text(Path(status), json.dumps({"state": "failed", "error": f"{type(e).__name__}: {e}"[:500]}) + "\n")
        raise
    write_text(Path(status), json.dumps({"state": "done", "rows": rows}) + "\n")
    return rows


def _executor(run: Run, config: ClusterConfig):
    """A submitit executor for the config: resources per job, the job's environment set before Python starts."""
    import submitit

    env = {**_STARTUP_ENV, "OMP_NUM_THREADS": str(config.cpus), "MKL_NUM_THREADS": str(config.cpus)}
    try:
        executor = submitit.AutoExecutor(folder=jobs_dir(run) / "logs", cluster=config.engine)
    except RuntimeError as e:  # no srun on this machine
        raise InputError(f"--cluster {config.engine}: {e} Submit from the cluster's login node, or use "
                         f"--cluster local") from None
    params: dict[str, Any] = dict(name=f"cnr-{run.name}"[:64], timeout_min=config.timeout_min,
                                  cpus_per_task=config.cpus, tasks_per_node=1, nodes=1)
    if config.gpus or config.engine == "local":  # the local executor hides the GPUs a job does not ask for
        params["gpus_per_node"] = config.gpus
    params[f"{config.engine}_setup"] = [f"export {k}={v}" for k, v in env.items()]
    if config.mem_gb is not None:
        params["mem_gb"] = config.mem_gb
    if config.engine == "slurm":
        params.update({f"slurm_{k}": v for k, v in (("partition", config.partition), ("account", config.account),
                                                      ("array_parallelism", config.parallel)) if v is not None})
    executor.update_parameters(**params)
    return executor


def submit_grid(run: Run, config: ClusterConfig, device: str) -> list[Any]:
    """Submit one job per shard that still has cells to run, as one job array; the jobs are added to the manifest."""
    from cnr.cells.groups import build_grid
    from cnr.checks import check_writable
    from cnr.eval.identity import check_own_rows
    from cnr.eval.merge import merged_rows
    from cnr.grid import shard_cells, unfinished

    try:
        import submitit  # noqa: F401
    except ImportError:
        raise InputError("cluster submission needs submitit: pip install 'cnr[cluster]' (or the pin in "
                         "requirements.txt)") from None
    cells = build_grid(run.profile)
    if config.jobs > len(cells):
        raise InputError(f"--jobs {config.jobs}: the grid has only {len(cells)} cells; use at most {len(cells)}")
    check_writable(run.tables_dir)
    check_writable(jobs_dir(run))
    merged, done = merged_rows(run.robustness_csv)
    check_own_rows(merged, run, run.robustness_csv)
    k = config.jobs
    shards = [f"{i}/{k}" for i in range(1, k + 1)
              if unfinished(shard_cells(cells, (i, k)), run, run.robustness_csv, done)]
    if not shards:
        return []
    run_json = json.dumps({**json.loads(run.to_json()), "device": device})
    statuses = [status_path(run, s) for s in shards]
    statuses[0].parent.mkdir(parents=True, exist_ok=True)
    for path in statuses:
        path.unlink(missing_ok=True)  # a resubmitted shard's old state no longer holds
    jobs = _executor(run, config).map_array(run_shard, [run_json] * len(shards), shards, [str(p) for p in statuses])
    _record(run, config, {s: j for s, j in zip(shards, jobs)})
    return jobs


def _record(run: Run, config: ClusterConfig, jobs: dict[str, Any]) -> None:
    """Add the submitted jobs to the manifest (a resubmitted shard's newer job replaces its older one)."""
    from cnr.atomic import write_text

    old = read_manifest(run)
    listed = old["jobs"] if old and old["config"]["jobs"] == config.jobs else {}
    listed.update({shard: {"job_id": j.job_id, "stdout": str(j.paths.stdout), "stderr": str(j.paths.stderr),
                           "status": str(status_path(run, shard))} for shard, j in jobs.items()})
    write_text(manifest_path(run), json.dumps({"config": asdict(config), "jobs": listed}, indent=1) + "\n")


def read_manifest(run: Run) -> dict[str, Any] | None:
    """The run's submitted jobs by shard, or None when none were submitted."""
    path = manifest_path(run)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ClusterConfig(**data["config"])
        if not isinstance(data["jobs"], dict):
            raise TypeError("jobs is not an object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a job manifest this kit wrote ({e}); move it away and resubmit") from None
    return data


@dataclass(frozen=True)
class ShardStatus:
    """One shard after its job: how many of its cells are still missing, and what its job's state says."""

    shard: str
    cells: int
    missing: int
    job_id: str | None = None
    state: str = "not submitted"
    log: str | None = None  # the log to read when the job failed or ended without finishing its cells


def job_state(engine: str, job: dict[str, str]) -> str:
    """'done', 'failed' (the grid raised), or the engine's word for a job that has not written its status yet."""
    status = Path(job["status"])
    if status.is_file():
        try:
            state = json.loads(status.read_text(encoding="utf-8"))["state"]
        except (OSError, ValueError, KeyError, TypeError):
            return "unreadable status"
        return state if state in ("done", "failed") else "unreadable status"
    if engine == "local":  # a local job's id is its controller's process id
        try:
            os.kill(int(job["job_id"]), 0)
        except (ProcessLookupError, ValueError):
            return "ended without a status"
        except PermissionError:
            pass
        return "running"
    import submitit

    # sacct's word: PENDING, RUNNING, TIMEOUT, ...
    return submitit.SlurmJob(Path(job["stdout"]).parent, job["job_id"]).state


def collect(run: Run) -> tuple[Any, list[ShardStatus]]:
    """Merge every shard's rows into the run's table and say, per shard, which cells are missing and why."""
    from cnr.cells.groups import build_grid
    from cnr.eval.merge import merged_rows
    from cnr.grid import shard_cells, unfinished, write_results

    cells = build_grid(run.profile)
    manifest = read_manifest(run)
    k = manifest["config"]["jobs"] if manifest else 1
    df = write_results(run.robustness_csv, run, cells)
    _, done = merged_rows(run.robustness_csv)
    report = []
    for i in range(1, k + 1):
        mine = shard_cells(cells, (i, k))
        status = ShardStatus(f"{i}/{k}", len(mine), len(unfinished(mine, run, run.robustness_csv, done)))
        job = manifest["jobs"].get(status.shard) if manifest else None
        if job is not None:
            state = job_state(manifest["config"]["engine"], job)
            status = replace(status, job_id=job["job_id"], state=state,
                             log=None if state == "done" and not status.missing else job["stderr"])
        report.append(status)
    return df, report


def describe(report: list[ShardStatus]) -> str:
    """The collect report as lines: a total, then each shard that is not complete."""
    missing = sum(s.missing for s in report)
    total = sum(s.cells for s in report)
    lines = [f"{total - missing} of {total} cells done, {missing} missing"]
    for s in report:
        if s.missing or s.state not in ("done", "not submitted"):
            job = f"job {s.job_id} {s.state}" if s.job_id else s.state
            lines.append(f"  shard {s.shard}: {s.missing} of {s.cells} cells missing; {job}"
                         + (f"; log: {s.log}" if s.log else ""))
    return "\n".join(lines)
