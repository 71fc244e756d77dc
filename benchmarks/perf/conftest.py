"""Shared fixtures and helpers for ``make perf`` (pytest-benchmark over ``benchmarks/perf``).

Every figure in ``results/perf/perf.md`` is a ratio against a baseline timed in the same run, on the
same machine, interleaved round by round with the benchmark (the baseline runs in pedantic's ``setup``,
which pytest-benchmark does not time). Conventions:

- **One thread, CPU time.** Kernels that run inside a study's cells run torch single-threaded there
  (``sgmbench.runner``: one thread per Dask worker), so they are timed single-threaded, and with the
  process's CPU time (``time.process_time``) rather than the wall clock: the two cores are shared with
  other jobs, and a single-threaded process's CPU time is its own work whatever the neighbours do
  (wall time under load measures the load). The baseline of the same benchmark uses the same clock.
  Benchmarks that use both cores (cKDTree with ``workers=-1``) keep the wall clock.
- :func:`record` writes the keys ``sgmbench.perf_report`` reads: ``ratio``, ``baseline``, ``goal``,
  ``met``, ``note`` and, for sweeps, ``size`` (one group per sweep so the report fits a cost exponent).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

#: the clock of single-threaded benchmarks (pass as ``@pytest.mark.benchmark(timer=CPU_CLOCK)``)
CPU_CLOCK = time.process_time
WALL_CLOCK = time.perf_counter


@pytest.fixture
def one_thread():
    """torch (and its BLAS) on one thread for the test; the previous count restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_once(fn: Callable[[], Any], clock: Callable[[], float] = CPU_CLOCK) -> float:
    """Seconds of one call of ``fn`` on ``clock``."""
    t0 = clock()
    fn()
    return clock() - t0


class Baseline:
    """A baseline timed once per benchmark round (pass :meth:`setup` as pedantic's ``setup``)."""

    def __init__(self, fn: Callable[[], Any], clock: Callable[[], float] = CPU_CLOCK, warmup: bool = False):
        self.fn, self.clock, self.times = fn, clock, []
        if warmup:
            fn()

    def setup(self):
        self.times.append(time_once(self.fn, self.clock))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def median_of(benchmark) -> float | None:
    """The benchmark's median seconds, or ``None`` when benchmarks are disabled (``make test``)."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


def record(
    benchmark,
    *,
    ratio: float | None,
    baseline: str,
    goal: str | None = None,
    met: bool | None = None,
    note: str = "",
    size: float | None = None,
    **extra: Any,
) -> None:
    """Fill ``benchmark.extra_info`` with the keys the report reads (plus any ``extra`` numbers)."""
    info: dict[str, Any] = {"ratio": ratio, "baseline": baseline, "note": note}
    if goal is not None:
        info.update(goal=goal, met=met)
    if size is not None:
        info["size"] = size
    info.update(extra)
    benchmark.extra_info.update(info)


@pytest.fixture(scope="session")
def matmul_probe():
    """The machine's single-thread float64 GEMM rate on a fixed square product (2048^3), GFLOP/s, measured
    once per session: a reference point printed beside results that do not depend on shape."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(2048, 2048, dtype=torch.float64)
        out = torch.empty_like(a)
        torch.mm(a, a, out=out)
        ts = [time_once(lambda: torch.mm(a, a, out=out)) for _ in range(3)]
    finally:
        torch.set_num_threads(before)
    return 2 * 2048**3 / statistics.median(ts) / 1e9
