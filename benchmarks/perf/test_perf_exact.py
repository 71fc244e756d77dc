"""Timings of the exact-law engine (``make perf``): one large law, a whole sweep, and the Monte Carlo
it replaces.

- ``exact-law``: one exact law, N = 1000 steps, d = 100 / 1000 / 10000 (size sweep; goal: d = 1000
  in < 20 ms);
- ``exact-sweep``: 10 processes x 7 samplers x 12 step counts (2..4096) x 4 dimensions (1..64) =
  3360 exact laws (goal < 2 s);
- ``exact-vs-mc``: the same setting (vp-linear, exponential integrator, N = 1000, d = 100) sampled
  by Monte Carlo at n = 1000, extrapolated (cost is linear in n) to the n needed to resolve the
  sampler's W2 error to 10 %: with Gaussian-fit (moment) W2, E||m_hat - m||^2 = tr(C)/n and
  E(sqrt(v_hat) - sqrt(v))^2 ~ v/(2n) per coordinate, so the noise floor of W2^2 is ~1.5 tr(C)/n
  and n_10% = 15 tr(C) / W2^2 (derived). Matching the exact law's own precision (relative 1e-10 on
  W2) would take n = 1.5 tr(C) / (1e-10 W2)^2 — reported too, to state the obvious.
"""

from __future__ import annotations

import time

import pytest
import torch

from sgmbench.brownian import IndependentNoise
from sgmbench.exact import exact_law, exact_laws, reference_law
from sgmbench.grids import make_grid
from sgmbench.processes import get_process
from sgmbench.samplers import available_samplers, get_sampler, initial_points
from sgmbench.scores import build_score
from sgmbench.targets import get_target

SWEEP_PROCESSES = [
    "vp-linear",
    "vp-constant",
    "ou",
    "vp-power",
    "vp-exp",
    "vp-cosine",
    "subvp",
    "ve-exp",
    "ve-constant",
    "ve-sqrt",
]
SWEEP_STEPS = [2**k for k in range(1, 13)]
SWEEP_DIMS = [1, 4, 16, 64]


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


def _w2(p, q) -> float:
    dv = (p.var - q.var) / (p.var.sqrt() + q.var.sqrt())
    return float(((p.mean - q.mean) ** 2 + dv**2).sum().sqrt())


@pytest.mark.parametrize("dim", [100, 1000, 10000])
def test_exact_law_one_setting(benchmark, dim):
    torch.set_num_threads(1)
    p = get_process("vp-linear")
    target = get_target(f"gaussian:dim={dim},mean=1,var=0.5,cond=100")
    grid = make_grid("uniform", p, 1.0, 1e-3, 1000)
    benchmark.group = "exact-law"
    law = benchmark(exact_law, target, p, grid, "exponential-integrator")
    assert bool(torch.isfinite(law.var).all())
    med = _median(benchmark)
    benchmark.extra_info.update(size=dim, steps=1000, sampler="exponential-integrator")
    if dim == 1000:
        benchmark.extra_info.update(goal="< 20 ms", met=None if med is None else med < 0.020)


def test_exact_law_sweep(benchmark):
    torch.set_num_threads(1)
    procs = [get_process(name) for name in SWEEP_PROCESSES]
    grids = [[make_grid("uniform", p, p.default_horizon, 1e-3, n) for n in SWEEP_STEPS] for p in procs]
    targets = [get_target(f"gaussian:dim={d},mean=1,var=0.5,cond=10") for d in SWEEP_DIMS]
    names = available_samplers()

    def sweep():
        count = 0
        for p, gs in zip(procs, grids):
            for name in names:
                for target in targets:
                    count += len(exact_laws(target, p, gs, name))
        return count

    benchmark.group = "exact-sweep"
    count = benchmark.pedantic(sweep, rounds=3, iterations=1, warmup_rounds=1)
    assert count == len(procs) * len(names) * len(SWEEP_STEPS) * len(SWEEP_DIMS) == 3360
    med = _median(benchmark)
    benchmark.extra_info.update(laws=count, goal="< 2 s", met=None if med is None else med < 2.0)


def test_exact_law_vs_monte_carlo(benchmark):
    """Monte Carlo of the sampler at n = 1000 (timed), against the exact law of the same setting."""
    torch.set_num_threads(1)
    p = get_process("vp-linear")
    dim, steps, n = 100, 1000, 1000
    target = get_target(f"gaussian:dim={dim},mean=1,var=0.5,cond=100")
    grid = make_grid("uniform", p, 1.0, 1e-3, steps)
    score = build_score("exact", target, p)
    sampler = get_sampler("exponential-integrator")

    def monte_carlo():
        gen = torch.Generator().manual_seed(0)
        x0 = initial_points(p, 1.0, n, dim, generator=gen)
        return sampler(p, grid, score, x0, IndependentNoise(n, dim, gen))

    benchmark.group = "exact-vs-mc"
    res = benchmark.pedantic(monte_carlo, rounds=1, iterations=1)
    assert res.ok
    mc_seconds = _median(benchmark)
    if mc_seconds is None:  # benchmarks disabled: time it once ourselves
        t0 = time.perf_counter()
        monte_carlo()
        mc_seconds = time.perf_counter() - t0
    exact_law(target, p, grid, sampler)
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        law = exact_law(target, p, grid, sampler)
    exact_seconds = (time.perf_counter() - t0) / reps
    err2 = _w2(law, reference_law(target, p, 1e-3)) ** 2
    trace = float(law.var.sum())
    n_10pct = 15 * trace / err2
    n_exact_precision = 1.5 * trace / (1e-10**2 * err2)
    mc_extrapolated = mc_seconds * n_10pct / n
    benchmark.extra_info.update(
        n_measured=n,
        w2_error=err2**0.5,
        n_required_10pct=n_10pct,
        n_required_exact_precision=n_exact_precision,
        mc_seconds_extrapolated=mc_extrapolated,
        exact_seconds=exact_seconds,
        ratio=mc_extrapolated / exact_seconds,
        baseline="exact law, same setting",
        goal="> 1 (exact cheaper at equal accuracy)",
        met=mc_extrapolated > exact_seconds,
        note=(
            f"MC {mc_seconds:.3g} s at n={n}; n for 10% W2 resolution = 15 tr(C)/W2^2 = {n_10pct:.3g} "
            f"-> {mc_extrapolated:.3g} s extrapolated (linear in n) vs exact {exact_seconds * 1e3:.3g} ms"
        ),
    )
