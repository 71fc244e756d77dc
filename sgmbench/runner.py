r"""Run a study's cells in-process or on Dask, and write each result to the store as it arrives.

Executors (:func:`make_executor`):

- ``InProcessExecutor``: cells one after another in this process (``--workers 0``, the default);
- ``DaskExecutor`` on a ``distributed.LocalCluster`` of N single-threaded worker processes
  (``--workers N``), on an existing cluster (``--scheduler tcp://HOST:PORT``), or on a batch system
  through dask-jobqueue (``--cluster slurm|pbs|sge|lsf`` with options from a small YAML/JSON config).

Workers only compute (:func:`execute_cell`, which never raises: a failure is a result with status
``failed`` and a one-line message); the client alone writes the store, one committed transaction per
cell, in the order results complete (``distributed.as_completed``). A tqdm bar shows counts and ETA.
Every cell seeds torch, numpy and ``random`` from its own seed and runs torch single-threaded, so the
numbers do not depend on the executor.
"""

from __future__ import annotations

import random
import shlex
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgmbench.errors import SgmbenchError
from sgmbench.store import CellResult, Store
from sgmbench.study import Cell, Study, load_cell_fn

JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}


# ------------------------------------------------------------------------------------------------
# One cell (runs on a worker)
# ------------------------------------------------------------------------------------------------
def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (the last frame's location appended for unexpected errors)."""
    msg = " ".join(str(exc).split()) or "(no message)"
    if isinstance(exc, SgmbenchError):
        return msg
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" [{Path(tb[-1].filename).name}:{tb[-1].lineno}]" if tb else ""
    return f"{type(exc).__name__}: {msg}{where}"


@contextmanager
def _deterministic(seed: int):
    """Seed every global RNG and run torch and the BLAS/OpenMP pools with one thread; restore afterwards.

    One thread everywhere makes a cell's numbers independent of the executor (BLAS reductions can change
    with the thread count) and stops Dask workers from oversubscribing the cores: with numpy's BLAS left
    at its default, 2 workers on 2 cores gave 0.97x on li-chen-li (quick), with it pinned 1.54x
    (``results/perf/walltime_li-chen-li*.md``).
    """
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seed the legacy global RNG for code that uses it)
    random.seed(seed)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def _check_outcome(outcome: Any, cell: Cell) -> dict[str, Any]:
    if not isinstance(outcome, Mapping) or not isinstance(outcome.get("metrics"), Mapping):
        raise SgmbenchError(f"cell function {cell.cell_fn} returned no 'metrics' mapping")
    for name, rec in outcome["metrics"].items():
        if not isinstance(rec, Mapping) or "value" not in rec:
            raise SgmbenchError(f"cell function {cell.cell_fn}: metric {name!r} has no 'value'")
    return dict(outcome)


def execute_cell(cell: Cell) -> CellResult:
    """Compute one cell with its cell function; never raises (except KeyboardInterrupt/SystemExit)."""
    from sgmbench.study import jsonable

    started = time.time()
    t0 = time.perf_counter()
    try:
        fn = load_cell_fn(cell.cell_fn)
        with _deterministic(cell.seed):
            outcome = _check_outcome(fn(cell), cell)
        status, message, outcome = "ok", None, jsonable(outcome)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a diverged sampler, an estimator error, a bug: recorded, sweep goes on
        status, message, outcome = "failed", one_line(exc), None
    return CellResult(
        study=cell.study,
        cell_key=cell.key(),
        cell=cell.as_dict(),
        status=status,
        message=message,
        outcome=outcome,
        started_at=started,
        duration_s=time.perf_counter() - t0,
        host=socket.gethostname(),
    )


# ------------------------------------------------------------------------------------------------
# Executors
# ------------------------------------------------------------------------------------------------
class InProcessExecutor:
    """Runs cells one after another in this process."""

    description = "in-process"

    def run(self, cells: Sequence[Cell]) -> Iterator[CellResult]:
        for cell in cells:
            yield execute_cell(cell)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DaskExecutor:
    """Runs cells on a Dask cluster through a ``distributed.Client``; results in completion order."""

    def __init__(self, client, cluster=None, description: str = "dask"):
        self.client = client
        self.cluster = cluster
        self.description = description

    def run(self, cells: Sequence[Cell]) -> Iterator[CellResult]:
        from distributed import as_completed

        if not cells:
            return
        futures = self.client.map(
            execute_cell, list(cells), pure=False, key=[f"cell-{c.key()}" for c in cells]
        )
        by_key = {f.key: c for f, c in zip(futures, cells)}
        try:
            for future in as_completed(futures):
                cell = by_key[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # the worker died (KilledWorker), or (de)serialisation failed
                    result = CellResult(cell.study, cell.key(), cell.as_dict(), "failed", one_line(exc))
                future.release()
                yield result
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_cluster_config(path: str | Path | None) -> dict[str, Any]:
    """Keyword arguments for a dask-jobqueue cluster from a YAML or JSON file (``{}`` if ``path`` is None)."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise SgmbenchError(f"cluster config {p} does not exist")
    text = p.read_text()
    try:
        if p.suffix == ".json":
            import json

            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise SgmbenchError(f"cluster config {p} does not parse: {one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SgmbenchError(f"cluster config {p} must be a mapping of SLURMCluster/PBSCluster options")
    return data


def jobqueue_cluster(kind: str, options: Mapping[str, Any]):
    """A dask-jobqueue cluster (``slurm``: ``SLURMCluster``, ``pbs``, ``sge``, ``lsf``) from config options,
    not yet scaled; returns ``(cluster, jobs, adapt)`` where ``jobs`` (default 1) and ``adapt`` (a dict of
    ``cluster.adapt`` arguments, or ``None``) are taken out of the options."""
    name = JOBQUEUE_CLUSTERS.get(str(kind).lower())
    if name is None:
        raise SgmbenchError(f"unknown --cluster {kind!r}; valid: {', '.join(JOBQUEUE_CLUSTERS)}")
    try:
        import dask_jobqueue
    except ImportError:
        raise SgmbenchError("dask-jobqueue is not installed: pip install 'sgmbench[dask]'") from None
    options = dict(options)
    jobs = options.pop("jobs", 1)
    adapt = options.pop("adapt", None)
    if adapt is not None and not isinstance(adapt, Mapping):
        adapt = {}
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise SgmbenchError(f"cluster config: jobs must be an integer >= 1, got {jobs!r}")
    sched = dict(options.get("scheduler_options") or {})
    sched.setdefault("dashboard_address", ":0")  # no clash with another dashboard on port 8787
    options["scheduler_options"] = sched
    try:
        cluster = getattr(dask_jobqueue, name)(**options)
    except (TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SgmbenchError(f"cluster config: {name} does not accept these options: {first}") from None
    return cluster, jobs, (dict(adapt) if adapt is not None else None)


def make_executor(
    workers: int = 0,
    scheduler: str | None = None,
    cluster: str | None = None,
    cluster_config: str | Path | None = None,
    jobs: int | None = None,
):
    """The executor the CLI options ask for (see the module docstring). Start-up errors are one line."""
    if workers is None or (isinstance(workers, int) and workers < 0):
        raise SgmbenchError(f"--workers must be an integer >= 0, got {workers!r}")
    if sum(x is not None and x is not False for x in (scheduler, cluster)) + (workers > 0) > 1:
        raise SgmbenchError("give at most one of --workers N (N > 0), --scheduler ADDR, --cluster KIND")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise SgmbenchError(f"--jobs must be an integer >= 1, got {jobs!r}")
    if scheduler is None and cluster is None and workers == 0:
        return InProcessExecutor()
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SgmbenchError(
            "Dask is not installed: pip install 'sgmbench[dask]' (or use --workers 0)"
        ) from None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout="30s")
            return DaskExecutor(client, None, f"dask scheduler {scheduler}")
        if cluster is not None:
            batch, n_jobs, adapt = jobqueue_cluster(cluster, load_cluster_config(cluster_config))
            if adapt is not None:
                batch.adapt(**adapt)
            else:
                batch.scale(jobs=int(jobs if jobs is not None else n_jobs))
            return DaskExecutor(Client(batch), batch, f"dask-jobqueue {type(batch).__name__}")
        local = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        )
        return DaskExecutor(Client(local), local, f"dask LocalCluster ({workers} workers)")
    except SgmbenchError:
        raise
    except Exception as exc:
        raise SgmbenchError(f"cannot start the Dask executor: {one_line(exc)}") from None


# ------------------------------------------------------------------------------------------------
# A study
# ------------------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    """Counts of one study's run: ``planned`` cells, ``skipped`` (already stored), ``ok``, ``failed``."""

    study: str
    profile: str
    planned: int
    skipped: int
    ok: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    first_failure: str | None = None

    def line(self) -> str:
        s = (
            f"{self.study} ({self.profile}): {self.planned} cells, {self.skipped} already stored, "
            f"{self.ok} ok, {self.failed} failed in {self.elapsed_s:.1f} s"
        )
        if self.first_failure:
            s += f"; first failure: {self.first_failure}"
        return s


def pending_cells(
    study: Study, profile: str, store: Store, retry_failed: bool = False
) -> tuple[list[Cell], int]:
    """The cells of ``study`` still to run, and how many are skipped because the store has them."""
    cells = study.cells(profile)
    status = store.statuses(study.name)
    todo = [c for c in cells if status.get(c.key()) is None or (retry_failed and status[c.key()] == "failed")]
    return todo, len(cells) - len(todo)


def run_study(
    study: Study,
    store: Store,
    executor=None,
    profile: str = "quick",
    retry_failed: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> RunSummary:
    """Run every cell of ``study`` not yet in ``store`` (and the failed ones if ``retry_failed``)."""
    executor = executor or InProcessExecutor()
    todo, skipped = pending_cells(study, profile, store, retry_failed)
    summary = RunSummary(study.name, profile, len(todo) + skipped, skipped)
    store.record_study(study.name, profile, study.config(profile))
    run_id = store.start_run(
        study.name,
        profile,
        summary.planned,
        skipped,
        executor.description,
        command if command is not None else " ".join(map(shlex.quote, sys.argv)),
    )
    t0 = time.perf_counter()
    bar = _progress(len(todo), study.name, progress)
    try:
        for result in executor.run(todo):
            store.put(result, run_id)
            if result.ok:
                summary.ok += 1
            else:
                summary.failed += 1
                summary.first_failure = summary.first_failure or result.message
            if bar is not None:
                bar.set_postfix(ok=summary.ok, failed=summary.failed, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        summary.elapsed_s = time.perf_counter() - t0
        store.finish_run(run_id, summary.ok, summary.failed)
    return summary


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


def run_cells_inline(cells: Sequence[Cell]) -> list[CellResult]:
    """Compute cells in this process without a store (``sgmbench compare`` uses it)."""
    return [execute_cell(c) for c in cells]
