r"""Sampling throughput (particles x steps per second) against the straightforward loops users write.

Each benchmark runs an sgmbench sampler and, interleaved round by round (pedantic's untimed
``setup``), the matching reference loop of ``reference_loops.py`` on the same initial points, grid
and noise stream (``tests/test_perf_reference.py`` checks they agree to rounding): ratio =
reference seconds / sgmbench seconds, goal >= 2. One thread, CPU time (conftest.py).

- ``sampling-mixture``: Euler–Maruyama on vp-linear with the exact score of a 4-component Gaussian
  mixture, full covariances in d = 16 and the registry's isotropic ``mixture:dim=2,components=4``
  (``MixtureTarget``: all components at once in whitened coordinates) vs score_sde's EM predictor loop
  with the score by autograd through ``torch.distributions.MixtureSameFamily(MultivariateNormal)``,
  rebuilt at every step (what a user of torch.distributions writes, for either covariance).
- ``sampling-empirical``: Euler–Maruyama on vp-linear with the empirical optimal score of n training
  points vs the same score_sde loop with the dense softmax score (``cdist`` + ``softmax`` over all n).
- ``sampling-empirical-kdiff``: probability-flow Euler on EDM (Karras grid) with the empirical score vs
  k-diffusion's ``sample_euler`` loop with the dense denoiser (the package itself does not import
  without its dependencies; see reference_loops.py).

The empirical settings are run at d = 2 (the Li–Chen–Li toys: exp-bound) and d = 64.
"""

from __future__ import annotations

import pytest
import torch
from conftest import CPU_CLOCK, Baseline, median_of, record, time_once
from reference_loops import (
    VPSDE,
    edm_denoiser_dense,
    empirical_score_dense,
    kdiffusion_sample_euler,
    mixture_score_autograd,
    score_sde_euler_maruyama,
)

from sgmbench.brownian import IndependentNoise
from sgmbench.grids import make_grid
from sgmbench.processes import get_process
from sgmbench.samplers import get_sampler
from sgmbench.scores import build_score
from sgmbench.targets import EmpiricalTarget, get_target
from sgmbench.targets.mixture import MixtureTarget

F64 = torch.float64
ROUNDS = 3


def _mixture(d: int, K: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(K, generator=g, dtype=F64) + 0.5
    w = w / w.sum()
    mu = 3.0 * torch.randn(K, d, generator=g, dtype=F64)
    A = torch.randn(K, d, d, generator=g, dtype=F64)
    covs = A @ A.transpose(1, 2) / d + 0.2 * torch.eye(d, dtype=F64)
    return MixtureTarget(w, mu, covs), (w, mu, covs)


def _finish(
    benchmark, base: Baseline, particles: int, steps: int, ours, theirs, what: str, extra_note: str = ""
):
    assert ours is not None and torch.isfinite(ours).all()
    err = float((ours - theirs).norm() / theirs.norm())
    assert err < 1e-8, f"reference loop disagrees with sgmbench (relative error {err:.2e})"
    med = median_of(benchmark)
    ratio = None if med is None else base.median / med
    rate = None if med is None else particles * steps / med
    note = (
        f"{rate:.3g} particle-steps/s vs {particles * steps / base.median:.3g} ({what}); "
        f"{particles} particles x {steps} steps; outputs agree to {err:.1e}"
        if med is not None
        else ""
    )
    if extra_note:
        note += "; " + extra_note
    if ratio is not None and ratio < 2:
        note += f"; MISSED by {2 / ratio:.2f}x"
    record(
        benchmark,
        ratio=ratio,
        baseline=f"{what} {base.median:.3g} s",
        goal=">= 2x reference",
        met=None if ratio is None else ratio >= 2,
        note=note,
        particles=particles,
        steps=steps,
        particle_steps_per_s=rate,
    )


def _registry_mixture(spec: str):
    """A registry mixture (isotropic components) and its tensors for the reference."""
    target = get_target(spec)
    covs = torch.stack([c.covariance for c in target.components])
    return target, (target.weights, target.means, covs)


MIXTURES = {
    "full-cov-d16-K4": lambda: _mixture(16, 4),
    "registry-d2-K4": lambda: _registry_mixture("mixture:dim=2,components=4,separation=4,var=0.5"),
}


@pytest.mark.benchmark(group="sampling-mixture", timer=CPU_CLOCK)
@pytest.mark.parametrize("setting", list(MIXTURES))
def test_sampling_mixture_vs_score_sde_autograd(benchmark, one_thread, setting):
    P, N = 4096, 50
    target, (w, mu, covs) = MIXTURES[setting]()
    d = target.dim
    p, sde = get_process("vp-linear"), VPSDE()
    grid = make_grid("uniform", p, 1.0, 1e-3, N)
    x0 = torch.randn(P, d, generator=torch.Generator().manual_seed(1), dtype=F64)
    score = build_score("exact", target, p)
    sampler = get_sampler("euler-maruyama")
    ref_score, times = mixture_score_autograd(w, mu, covs, sde), grid.tolist()
    out = {}

    def reference():
        out["ref"] = score_sde_euler_maruyama(sde, times, ref_score, x0, torch.Generator().manual_seed(2))

    def ours():
        return sampler(p, grid, score, x0, IndependentNoise(P, d, torch.Generator().manual_seed(2)))

    base = Baseline(reference)
    res = benchmark.pedantic(ours, setup=base.setup, rounds=5, iterations=1, warmup_rounds=1)
    g = torch.Generator().manual_seed(0)
    noise_s = time_once(lambda: [torch.randn(P, d, generator=g, dtype=F64) for _ in range(N)])
    xs = [res.samples.clone() for _ in range(2)]  # the score alone, over the same times, on the outputs
    ours_score = min(time_once(lambda: [score(xs[0], t) for t in times[:-1]]) for _ in range(2))
    ref_s = min(time_once(lambda: [ref_score(xs[1], t) for t in times[:-1]]) for _ in range(2))
    _finish(
        benchmark,
        base,
        P,
        N,
        res.samples,
        out["ref"],
        f"score_sde EM loop + autograd MixtureSameFamily(MultivariateNormal), d={d}, K={len(w)}",
        extra_note=(
            f"float64 noise draws {noise_s:.3g} s of each run (same in both); the score alone "
            f"{ref_s / ours_score:.2f}x faster than autograd ({ours_score:.3g} s vs {ref_s:.3g} s)"
        ),
    )


@pytest.mark.benchmark(group="sampling-empirical", timer=CPU_CLOCK)
@pytest.mark.parametrize("dim", [2, 64])
def test_sampling_empirical_vs_score_sde_dense(benchmark, one_thread, dim):
    n, P, N = 4000, 1000, 20
    g = torch.Generator().manual_seed(3)
    pts = torch.randn(n, dim, generator=g, dtype=F64) + 1.0
    p, sde = get_process("vp-linear"), VPSDE()
    grid = make_grid("uniform", p, 1.0, 1e-3, N)
    x0 = torch.randn(P, dim, generator=g, dtype=F64)
    emp = EmpiricalTarget(pts)
    sampler = get_sampler("euler-maruyama")
    ref_score, times = empirical_score_dense(pts, sde), grid.tolist()
    out = {}

    def reference():
        out["ref"] = score_sde_euler_maruyama(sde, times, ref_score, x0, torch.Generator().manual_seed(4))

    def ours():
        return sampler(
            p,
            grid,
            lambda x, t: emp.noised(p, t).score(x),
            x0,
            IndependentNoise(P, dim, torch.Generator().manual_seed(4)),
        )

    base = Baseline(reference)
    res = benchmark.pedantic(ours, setup=base.setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _finish(
        benchmark,
        base,
        P,
        N,
        res.samples,
        out["ref"],
        f"score_sde EM loop + dense softmax score (n={n}, d={dim})",
    )


@pytest.mark.benchmark(group="sampling-empirical-kdiff", timer=CPU_CLOCK)
@pytest.mark.parametrize("dim", [2, 64])
def test_sampling_empirical_vs_kdiffusion_euler(benchmark, one_thread, dim):
    n, P, N = 4000, 1000, 20
    g = torch.Generator().manual_seed(5)
    pts = torch.randn(n, dim, generator=g, dtype=F64)
    p = get_process("edm")
    grid = make_grid("karras", p, 80.0, 2e-3, N)
    x0 = 80.0 * torch.randn(P, dim, generator=g, dtype=F64)
    emp = EmpiricalTarget(pts)
    sampler = get_sampler("pf-euler")
    model = edm_denoiser_dense(pts)
    out = {}

    def reference():
        out["ref"] = kdiffusion_sample_euler(model, x0, grid)

    def ours():
        return sampler(p, grid, lambda x, t: emp.noised(p, t).score(x), x0)

    base = Baseline(reference)
    res = benchmark.pedantic(ours, setup=base.setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _finish(
        benchmark,
        base,
        P,
        N,
        res.samples,
        out["ref"],
        f"k-diffusion sample_euler + dense denoiser (n={n}, d={dim})",
    )
