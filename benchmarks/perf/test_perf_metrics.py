"""Timings of the metric kernels (``make perf``); a few rounds each so the whole file stays short.

- ``metrics-w2-exact``: exact W2 (``sgmbench.metrics.w2_sq_exact``: centring, ``ot.dist``, ``ot.emd2``
  with numItermax 1e9 and ``log=True``, result-code check, dual-potential stderr) for n = 5000, d = 2,
  against bare ``ot.emd2(a, b, M, numItermax=1e9)`` on the same cost matrix, timed in the same run,
  interleaved round by round (goal: ratio <= 1.2);
- ``metrics-knn-kl``: Wang-Kulkarni-Verdu k-NN KL (with its batch-means stderr) at n = m = 20000,
  d = 2 and 10, cKDTree with ``workers=-1`` (goal: seconds, < 10 s);
- ``metrics-tv-exact``: exact Gaussian TV in d = 1000 by Gil-Pelaez/Imhof, two laws in one basis
  (O(d) path; goal < 1 s) and full covariances (O(d^3) eigensolve; no goal, for scale).
"""

from __future__ import annotations

import time

import numpy as np
import ot
import pytest

from sgmbench.metrics import cost_matrix, kl_knn, tv_diag, tv_gaussian, w2_sq_exact


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


def test_w2_exact_vs_bare_emd2(benchmark):
    rng = np.random.default_rng(0)
    n = 5000
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + [0.5, 0.0]
    M = cost_matrix(x, y)
    a = np.full(n, 1.0 / n)
    bare: list[float] = []
    costs: list[float] = []

    def time_bare():  # runs before each round (not timed by the benchmark): interleaves the two
        t0 = time.perf_counter()
        costs.append(float(ot.emd2(a, a, M, numItermax=10**9)))
        bare.append(time.perf_counter() - t0)

    benchmark.group = "metrics-w2-exact"
    rec = benchmark.pedantic(w2_sq_exact, args=(x, y), setup=time_bare, rounds=2, iterations=1)
    cost = costs[-1]
    assert rec.value == pytest.approx(float(cost), rel=1e-9)
    baseline = float(np.median(bare))
    med = _median(benchmark)
    ratio = None if med is None else med / baseline
    benchmark.extra_info.update(
        size=n,
        dim=2,
        baseline=f"bare ot.emd2 {baseline:.2f} s",
        ratio=ratio,
        goal="<= 1.2x",
        met=None if ratio is None else ratio <= 1.2,
    )


@pytest.mark.parametrize("dim", [2, 10])
def test_knn_kl_n20000(benchmark, dim):
    rng = np.random.default_rng(1)
    n = 20000
    x, y = rng.normal(size=(n, dim)) + 0.1, rng.normal(size=(n, dim))
    benchmark.group = "metrics-knn-kl"
    rec = benchmark.pedantic(kl_knn, args=(x, y), rounds=2, iterations=1)
    assert np.isfinite(rec.value)
    med = _median(benchmark)
    benchmark.extra_info.update(
        size=n,
        dim=dim,
        truth=0.005 * dim,
        value=rec.value,
        goal="< 10 s (both cores)",
        met=None if med is None else med < 10.0,
    )


@pytest.mark.parametrize("form", ["same-basis", "full-covariance"])
def test_gaussian_tv_d1000(benchmark, form):
    rng = np.random.default_rng(2)
    d = 1000
    v1 = rng.uniform(0.5, 2.0, d)
    v2 = v1 * (1 + 0.01 * rng.normal(size=d))
    m2 = 0.01 * rng.normal(size=d)
    benchmark.group = "metrics-tv-exact"
    if form == "same-basis":
        value = benchmark.pedantic(tv_diag, args=(np.zeros(d), v1, m2, v2), rounds=3, iterations=1)
    else:
        U = np.linalg.qr(rng.normal(size=(d, d)))[0]
        S1, S2 = (U * v1) @ U.T, (U * v2) @ U.T
        value = benchmark.pedantic(tv_gaussian, args=(np.zeros(d), S1, U @ m2, S2), rounds=1, iterations=1)
    assert 0.0 < value < 1.0
    med = _median(benchmark)
    extra = dict(dim=d, tv=value)
    if form == "same-basis":
        extra.update(goal="< 1 s", met=None if med is None else med < 1.0)
    benchmark.extra_info.update(extra)
