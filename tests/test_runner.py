"""The runner: resumable sweeps, failures recorded, SIGKILL loses nothing, Dask gives the same numbers."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sgmbench.runner import InProcessExecutor, make_executor, run_study
from sgmbench.setting import Setting
from sgmbench.store import Store
from sgmbench.study import Study

REPO = Path(__file__).resolve().parent.parent

TOY = Study(
    name="toy",
    axes={"process": ["vp-linear", "ou"], "steps": [10, 20, 40], "seed": [0, 1]},
    metrics=("w2", "kl"),
    cell_fn="sgmbench.study:synthetic_cell",
)


def test_run_resume_and_skip(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        first = run_study(TOY, store, progress=False)
        assert (first.planned, first.skipped, first.ok, first.failed) == (12, 0, 12, 0)
        stamps = {r["cell_key"]: r["finished_at"] for r in store.rows("toy")}
        second = run_study(TOY, store, progress=False)
        assert (second.skipped, second.ok) == (12, 0)
        assert {r["cell_key"]: r["finished_at"] for r in store.rows("toy")} == stamps
        bigger = Study(**{**TOY.__dict__, "axes": {**TOY.axes, "steps": [10, 20, 40, 80]}})
        third = run_study(bigger, store, progress=False)
        assert (third.skipped, third.ok) == (12, 4)
        assert len(store.runs("toy")) == 3 and store.study_config("toy")["axes"][1]["values"] == [
            10,
            20,
            40,
            80,
        ]


def test_failed_cell_recorded_sweep_continues_and_retry(tmp_path):
    # steps=20 fails (its extras say so); the others succeed
    cells_fail = Study(
        name="f",
        axes={("steps", "fail"): [(10, ""), (20, "estimator blew up"), (30, "")]},
        cell_fn="sgmbench.study:synthetic_cell",
    )
    with Store(tmp_path / "s.sqlite") as store:
        summary = run_study(cells_fail, store, progress=False)
        assert (summary.ok, summary.failed) == (2, 1)
        assert "estimator blew up" in summary.first_failure
        again = run_study(cells_fail, store, progress=False)
        assert (again.skipped, again.ok, again.failed) == (3, 0, 0)  # a failed cell is not rerun by default
        retry = run_study(cells_fail, store, progress=False, retry_failed=True)
        assert (retry.skipped, retry.failed) == (2, 1)
        rows = store.rows("f")
        assert len(rows) == 3 and max(r["attempts"] for r in rows) == 2


def test_make_executor_rejects_bad_options():
    from sgmbench.errors import SgmbenchError

    assert isinstance(make_executor(0), InProcessExecutor)
    with pytest.raises(SgmbenchError):
        make_executor(-1)
    with pytest.raises(SgmbenchError):
        make_executor(2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(SgmbenchError, match="unknown --cluster"):
        make_executor(0, cluster="kubernetes")


def test_slurm_cluster_from_config(tmp_path):
    """``--cluster slurm --cluster-config FILE`` builds a SLURMCluster with the file's options."""
    from sgmbench.errors import SgmbenchError
    from sgmbench.runner import jobqueue_cluster, load_cluster_config

    cfg = tmp_path / "slurm.yaml"
    cfg.write_text(
        "cores: 4\nprocesses: 4\nmemory: 8GB\nwalltime: '01:00:00'\nqueue: short\naccount: proj\n"
        "job_script_prologue: ['cd /srv/sgmbench']\njobs: 3\n"
    )
    cluster, jobs, adapt = jobqueue_cluster("slurm", load_cluster_config(cfg))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert jobs == 3 and adapt is None
    for line in (
        "#SBATCH -p short",
        "#SBATCH -A proj",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH -t 01:00:00",
        "cd /srv/sgmbench",
    ):
        assert line in script
    with pytest.raises(SgmbenchError, match="does not accept"):
        jobqueue_cluster("slurm", {"cores": 1, "memory": "1GB", "no_such_option": 1})
    (tmp_path / "bad.yaml").write_text("[1, 2")
    with pytest.raises(SgmbenchError, match="does not parse"):
        load_cluster_config(tmp_path / "bad.yaml")


def _kill_study(directory: Path, n: int = 30, sleep: float = 0.15) -> None:
    (directory / "kill_me.py").write_text(
        textwrap.dedent(
            f'''
            """A slow toy study for the SIGKILL test."""
            from sgmbench.study import Study
            STUDY = Study(axes={{"steps": list(range(1, {n + 1})), "sleep": [{sleep}]}}, metrics=("w2",),
                          cell_fn="sgmbench.study:synthetic_cell")
            '''
        )
    )


@pytest.mark.slow
def test_sigkill_mid_sweep_resumes_without_loss_or_duplicates(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    _kill_study(studies)
    store_path = tmp_path / "s.sqlite"
    env = {**os.environ, "SGMBENCH_STUDY_PATH": str(studies), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sgmbench", "run", "kill-me", "--store", str(store_path), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done_before = 0
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            if store_path.exists():
                try:
                    with Store(store_path, readonly=True) as s:
                        done_before = s.count("kill-me")
                except Exception:
                    continue
                if done_before >= 5:
                    break
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store(store_path, readonly=True) as s:
        before = {r["cell_key"]: (r["finished_at"], r["outcome"]) for r in s.rows("kill-me")}
    assert 5 <= len(before) < 30
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} already stored" in again.stderr
    with Store(store_path, readonly=True) as s:
        rows = s.rows("kill-me")
        keys = [r["cell_key"] for r in rows]
        assert len(keys) == len(set(keys)) == 30
        assert all(r["status"] == "ok" and r["attempts"] == 1 for r in rows)
        after = {r["cell_key"]: (r["finished_at"], r["outcome"]) for r in rows}
        assert all(after[k] == v for k, v in before.items())  # nothing recomputed or lost
        assert len(s.runs("kill-me")) == 2


@pytest.mark.slow
def test_local_cluster_gives_identical_numbers(tmp_path):
    """In-process and a 2-worker LocalCluster store the same numbers for the same cells."""
    from sgmbench.measure import measure_cell  # noqa: F401  (the real cell function must exist)

    study = Study(
        name="same",
        axes={
            ("target", "score", "samples"): [
                ("gaussian:dim=2,mean=1,var=0.5", "exact", 200),  # exact law
                ("gaussian:dim=2,mean=1,var=0.5", "perturbed:kind=field,size=0.1", 200),  # sampled
            ],
            "steps": [4, 8],
        },
        base=Setting(process="vp-constant:beta=2", horizon=4.0),
        metrics=("w2", "kl"),
    )
    study_toy = Study(name="same-toy", axes={"steps": [3, 5]}, cell_fn="sgmbench.study:synthetic_cell")

    def values(store, name):
        df = store.frame(name)
        assert (df["status"] == "ok").all(), df["message"].dropna().tolist()
        return {(k, m): (v, e) for k, m, v, e in zip(df["cell_key"], df["metric"], df["value"], df["stderr"])}

    with Store(tmp_path / "a.sqlite") as a:
        run_study(study, a, InProcessExecutor(), progress=False)
        run_study(study_toy, a, InProcessExecutor(), progress=False)
        va, ta = values(a, "same"), values(a, "same-toy")
    with Store(tmp_path / "b.sqlite") as b, make_executor(workers=2) as ex:
        assert "LocalCluster" in ex.description
        run_study(study, b, ex, progress=False)
        run_study(study_toy, b, ex, progress=False)
        vb, tb = values(b, "same"), values(b, "same-toy")
    assert va == vb and ta == tb
