"""cnr.cluster: the grid as a submitit job array (here through the local executor: real subprocesses, the same
code path as Slurm), the per-shard report of what is missing, and the checks of the job config."""
from __future__ import annotations

import os

import pytest
from helpers import run_cli

from cnr.cluster import cluster_config, collect, describe, job_device, read_manifest, submit_grid
from cnr.errors import InputError
from cnr.eval.rows import KEY_COLUMNS, rows_path
from cnr.grid import run_grid
from cnr.run import resolve_run

pytest.importorskip("submitit")

GROUPS = {"grid.groups": ("clean",)}  # 9 cells of the smoke grid: the undefended and every defended path


def _finish(jobs) -> None:
    for job in jobs:
        job.wait()


@pytest.mark.slow
def test_two_local_jobs_report_their_failure_then_merge_to_the_local_table(tmp_path):
    local = run_grid(resolve_run("smoke", GROUPS, results_root=tmp_path / "local"), workers=1)
    run = resolve_run("smoke", GROUPS, results_root=tmp_path / "cluster")
    config = cluster_config("local", 2)
    # a GPU the local jobs cannot see (the executor hides them when a job asks for none): each job fails on start
    jobs = submit_grid(run, config, "cuda:0")
    assert len(jobs) == 2
    _finish(jobs)
    _, report = collect(run)
    assert [(s.shard, s.cells, s.missing, s.state) for s in report] == [("1/2", 5, 5, "failed"),
                                                                        ("2/2", 4, 4, "failed")]
    assert all("torch.cuda.is_available() is False" in open(s.log).read() for s in report)
    assert f"shard 2/2: 4 of 4 cells missing; job {jobs[1].job_id} failed; log: {report[1].log}" in describe(report)

    again = submit_grid(run, config, job_device(None, run.profile.device, config))
    _finish(again)
    df, report = collect(run)
    assert [(s.missing, s.state, s.log) for s in report] == [(0, "done", None)] * 2
    assert read_manifest(run)["jobs"]["2/2"]["job_id"] == again[1].job_id  # the newer job replaced the failed one
    assert submit_grid(run, config, "cpu") == []  # nothing left to run

    columns = KEY_COLUMNS + ["accuracy", "worst_accuracy"]
    mine, theirs = (t[columns].sort_values(KEY_COLUMNS).reset_index(drop=True) for t in (df, local))
    assert len(mine) == len(theirs) == 9
    assert mine[KEY_COLUMNS].equals(theirs[KEY_COLUMNS])
    assert list(mine["accuracy"]) == pytest.approx(list(theirs["accuracy"]))
    assert list(mine["worst_accuracy"]) == pytest.approx(list(theirs["worst_accuracy"]))

    rows_path(run.robustness_csv, (2, 2)).unlink()  # a shard whose rows are lost: its finished job is no alibi
    run.robustness_csv.unlink()
    _, report = collect(run)
    assert (report[1].missing, report[1].state, report[1].log) == (4, "done", str(again[1].paths.stderr))


@pytest.mark.parametrize("engine, jobs, items, clash, needle", [
    (None, 2, (), (), "add --cluster"),
    ("pbs", None, (), (), "pbs"),
    ("slurm", None, ("gpu=2",), (), "key one of"),
    ("slurm", None, ("gpus=-1",), (), "--job gpus"),
    ("slurm", None, ("timeout_min=1h",), (), "--job timeout_min"),
    ("slurm", None, ("partition=",), (), "empty"),
    ("slurm", 0, (), (), "--jobs"),
    ("slurm", 2, (), ("shard", "no_resume"), "--shard, --no-resume"),
])
def test_the_job_config_is_refused_at_the_boundary(engine, jobs, items, clash, needle):
    with pytest.raises(InputError, match=needle):
        cluster_config(engine, jobs, items, clash=clash)


def test_the_job_config_holds_what_each_job_asks_for():
    c = cluster_config("slurm", 40, ["partition=gpu", "gpus=4", "cpus=16", "timeout-min=600", "parallel=8"])
    assert (c.jobs, c.partition, c.gpus, c.cpus, c.timeout_min, c.parallel) == (40, "gpu", 4, 16, 600, 8)
    assert job_device(None, "auto", c) == "auto" and job_device("cuda:0", "cpu", c) == "cuda:0"
    with pytest.raises(InputError, match="sit idle"):
        job_device("cpu", "auto", c)
    with pytest.raises(InputError, match="no GPU per job"):
        job_device("cuda", "auto", cluster_config("local"))


def test_cli_refuses_cluster_options_without_an_engine_and_collects_an_empty_run(capsys, scratch_results):
    code, text = run_cli(capsys, "grid", "--profile", "smoke", "--jobs", "2")
    assert code == 2 and "add --cluster" in text
    code, text = run_cli(capsys, "collect", "--profile", "smoke", "--set", "grid.groups=['clean']")
    assert code == 1 and "0 of 9 cells done, 9 missing" in text


def test_a_slurm_submission_asks_for_the_configured_resources(tmp_path, monkeypatch):
    """Through submitit's Slurm executor with stand-in `srun` and `sbatch` that record the batch script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/script.sh\necho "Submitted batch job 4242"\n')
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    run = resolve_run("smoke", GROUPS, results_root=tmp_path / "results")
    config = cluster_config("slurm", 3, ["partition=gpu", "gpus=2", "cpus=6", "timeout_min=90", "parallel=2"])
    jobs = submit_grid(run, config, job_device(None, "auto", config))
    script = (tmp_path / "script.sh").read_text()
    for flag in ("--partition=gpu", "--gpus-per-node=2", "--cpus-per-task=6", "--time=90", "--array=0-2%2",
                 "export OMP_NUM_THREADS=6"):
        assert flag in script, flag
    assert [j.job_id for j in jobs] == ["4242_0", "4242_1", "4242_2"]
    assert list(read_manifest(run)["jobs"]) == ["1/3", "2/3", "3/3"]


def test_slurm_without_slurm_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    run = resolve_run("smoke", GROUPS, results_root=tmp_path / "results")
    with pytest.raises(InputError, match="--cluster local"):
        submit_grid(run, cluster_config("slurm", 2), "auto")
