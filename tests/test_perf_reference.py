"""The reference loops of ``benchmarks/perf/reference_loops.py`` compute what sgmbench's samplers compute.

``make perf`` times sgmbench's samplers against these straightforward loops (score_sde's Euler–Maruyama
predictor, k-diffusion's ``sample_euler``, naive scores by autograd or a dense softmax); the ratio is
only fair if both sides do the same computation. Each test feeds both the same initial points and the
same noise stream and asks for agreement to rounding.
"""

import math

import pytest
import torch

from benchmarks.perf import reference_loops as ref
from sgmbench.brownian import IndependentNoise
from sgmbench.grids import make_grid
from sgmbench.processes import get_process
from sgmbench.samplers import get_sampler
from sgmbench.targets import EmpiricalTarget
from sgmbench.targets.mixture import MixtureTarget

F64 = torch.float64


def _mixture(d=3, K=3, seed=0):
    """A mixture with full (random SPD) covariances, and its tensors for the reference."""
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(K, generator=g, dtype=F64) + 0.5
    w = w / w.sum()
    mu = 2.0 * torch.randn(K, d, generator=g, dtype=F64)
    A = torch.randn(K, d, d, generator=g, dtype=F64)
    covs = A @ A.transpose(1, 2) / d + 0.3 * torch.eye(d, dtype=F64)
    return MixtureTarget(w, mu, covs), (w, mu, covs)


def _relerr(a, b):
    return float((a - b).norm() / b.norm())


def test_vpsde_coefficients_match_vp_linear():
    p, sde = get_process("vp-linear"), ref.VPSDE()
    for t in (1e-3, 0.1, 0.5, 1.0):
        alpha, var = sde.marginal_prob_coefficients(t)
        assert alpha == pytest.approx(float(p.alpha(t)), rel=1e-13)
        assert var == pytest.approx(float(p.sigma2(t)), rel=1e-12)
        assert sde.sde(torch.ones(1, 1, dtype=F64), t)[1] ** 2 == pytest.approx(float(p.g2(t)), rel=1e-13)


def test_autograd_mixture_score_is_the_exact_score():
    target, (w, mu, covs) = _mixture()
    p, sde = get_process("vp-linear"), ref.VPSDE()
    score_fn = ref.mixture_score_autograd(w, mu, covs, sde)
    x = 3 * torch.randn(50, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    for t in (0.01, 0.3, 1.0):
        assert _relerr(score_fn(x, t), target.noised(p, t).score(x)) < 1e-10


def test_score_sde_loop_with_autograd_mixture_equals_euler_maruyama():
    target, (w, mu, covs) = _mixture()
    p, sde = get_process("vp-linear"), ref.VPSDE()
    grid = make_grid("uniform", p, 1.0, 1e-3, 30)
    x0 = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    ours = get_sampler("euler-maruyama")(
        p,
        grid,
        lambda x, t: target.noised(p, t).score(x),
        x0,
        IndependentNoise(64, 3, torch.Generator().manual_seed(3)),
    )
    theirs = ref.score_sde_euler_maruyama(
        sde, grid.tolist(), ref.mixture_score_autograd(w, mu, covs, sde), x0, torch.Generator().manual_seed(3)
    )
    assert ours.ok and _relerr(ours.samples, theirs) < 1e-10


def test_score_sde_loop_with_dense_empirical_score_equals_euler_maruyama():
    g = torch.Generator().manual_seed(4)
    pts = torch.randn(200, 5, generator=g, dtype=F64) + 1.0
    p, sde = get_process("vp-linear"), ref.VPSDE()
    emp = EmpiricalTarget(pts, chunk=37)  # several chunks, a ragged last one
    grid = make_grid("uniform", p, 1.0, 1e-2, 25)
    x0 = torch.randn(48, 5, generator=g, dtype=F64)
    ours = get_sampler("euler-maruyama")(
        p,
        grid,
        lambda x, t: emp.noised(p, t).score(x),
        x0,
        IndependentNoise(48, 5, torch.Generator().manual_seed(5)),
    )
    theirs = ref.score_sde_euler_maruyama(
        sde, grid.tolist(), ref.empirical_score_dense(pts, sde), x0, torch.Generator().manual_seed(5)
    )
    assert ours.ok and _relerr(ours.samples, theirs) < 1e-9


def test_kdiffusion_euler_with_dense_denoiser_equals_pf_euler_on_edm():
    g = torch.Generator().manual_seed(6)
    pts = torch.randn(150, 4, generator=g, dtype=F64)
    p = get_process("edm")
    emp = EmpiricalTarget(pts)
    grid = make_grid("karras", p, 80.0, 2e-3, 40)
    x0 = 80.0 * torch.randn(32, 4, generator=g, dtype=F64)
    ours = get_sampler("pf-euler")(p, grid, lambda x, t: emp.noised(p, t).score(x), x0)
    theirs = ref.kdiffusion_sample_euler(ref.edm_denoiser_dense(pts), x0, grid)
    assert ours.ok and _relerr(ours.samples, theirs) < 1e-9
    assert math.isfinite(float(theirs.sum()))
