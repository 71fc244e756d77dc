"""Samplers: the shared interface over every registry entry, common random numbers (Brownian paths
shared across step counts), strong orders with a shared path, divergence reporting, bad input."""

import math

import pytest
import torch

from sgmbench.brownian import BrownianPath, IndependentNoise
from sgmbench.errors import DivergenceError, SgmbenchError
from sgmbench.grids import make_grid
from sgmbench.processes import get_process
from sgmbench.samplers import (
    SampleResult,
    available_samplers,
    get_sampler,
    initial_points,
    sampler_info,
    samplers,
)
from sgmbench.scores import build_score
from sgmbench.targets import get_target

ALL = available_samplers()
F64 = torch.float64


def _affine_score(process, mean=0.5, var=0.3):
    """The exact score of N(mean, var I) as a plain callable (no Score object needed)."""

    def score(x, t):
        a, s2 = float(process.alpha(t)), float(process.sigma2(t))
        return -(x - a * mean) / (a * a * var + s2)

    return score


def test_registry_and_declared_orders():
    assert set(ALL) == {
        "euler-maruyama",
        "exponential-integrator",
        "ddpm-ancestral",
        "pf-euler",
        "pf-heun",
        "pf-exponential",
        "predictor-corrector",
    }
    for name in ALL:
        info = sampler_info(name)
        assert info.name == name and info.source and info.summary
        if info.deterministic:
            assert info.strong_order == info.weak_order
    assert sampler_info("pf-heun").weak_order == 2.0
    assert sampler_info("euler-maruyama").weak_order == 1.0
    assert not sampler_info("predictor-corrector").consistent
    assert sampler_info("predictor-corrector:snr=0.1").name == "predictor-corrector"
    with pytest.raises(SgmbenchError, match="valid: ddpm-ancestral"):
        get_sampler("rk45")


def test_spec_parameters():
    smp = get_sampler("predictor-corrector:snr=0.1,corrector_steps=2")
    assert smp.params == {"snr": 0.1, "corrector_steps": 2}
    rows = {r["name"]: r["parameters"] for r in samplers.describe()}
    assert rows["pf-exponential"] == {"parametrization": "noise"}
    assert rows["euler-maruyama"] == {}
    with pytest.raises(SgmbenchError, match="no parameter"):
        get_sampler("euler-maruyama:snr=0.1")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("process_name", ["vp-linear", "ve-exp"])
def test_interface(name, process_name):
    """Same signature for all; [n, d] float64 output, finite, NFE counted, deterministic flag honoured."""
    p = get_process(process_name)
    T = p.default_horizon
    grid = make_grid("uniform", p, T, 1e-3, 8)
    gen = torch.Generator().manual_seed(0)
    x0 = initial_points(p, T, 64, 2, generator=gen)
    smp = get_sampler(name)
    calls = []
    score = _affine_score(p)

    def counted(x, t):
        calls.append(t)
        return score(x, t)

    res = smp(p, grid, counted, x0, IndependentNoise(64, 2, torch.Generator().manual_seed(1)))
    assert isinstance(res, SampleResult) and res.ok and res.failure is None
    assert res.samples.shape == (64, 2) and res.samples.dtype == F64
    assert bool(torch.isfinite(res.samples).all())
    assert res.nfe == len(calls) == smp.info.score_evals_per_step * 8
    other = smp(p, grid, score, x0, IndependentNoise(64, 2, torch.Generator().manual_seed(2)))
    assert torch.equal(res.samples, other.samples) == smp.info.deterministic
    assert torch.equal(x0, initial_points(p, T, 64, 2, generator=torch.Generator().manual_seed(0)))


def test_pf_heun_last_step_is_euler_at_time_zero():
    """Karras et al. 2022 Alg. 1: no correction when t_{k+1} = 0 (the score may not exist there)."""
    p = get_process("vp-linear")
    grid = make_grid("uniform", p, 1.0, 0.0, 5)
    seen = []
    score = _affine_score(p)

    def spy(x, t):
        seen.append(t)
        return score(x, t)

    res = get_sampler("pf-heun")(p, grid, spy, torch.zeros(3, 2, dtype=F64))
    assert res.nfe == 9 and 0.0 not in seen


def test_predictor_corrector_with_zero_snr_is_its_predictor():
    p = get_process("ve-exp")
    grid = make_grid("uniform", p, 1.0, 1e-2, 6)
    x0 = initial_points(p, 1.0, 32, 2, generator=torch.Generator().manual_seed(0))
    path = BrownianPath(grid, 32, 2, seed=3)
    a = get_sampler("predictor-corrector:snr=0,predictor=exponential-integrator")(
        p, grid, _affine_score(p), x0, path
    )
    b = get_sampler("exponential-integrator")(p, grid, _affine_score(p), x0, path)
    assert torch.allclose(a.samples, b.samples, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------------------------------------
# Brownian paths
# ------------------------------------------------------------------------------------------------
def test_coarse_increments_are_sums_of_fine_ones():
    """An N-step and a 2N-step grid on one path: each coarse increment is the sum of two fine ones."""
    p = get_process("vp-linear")
    fine = make_grid("uniform", p, 1.0, 1e-3, 16)
    coarse = make_grid("uniform", p, 1.0, 1e-3, 8)
    path = BrownianPath(fine, 5, 3, seed=7)
    for clock in (None, p.rho):
        for k in range(8):
            c = path.increment(float(coarse[k]), float(coarse[k + 1]), clock)
            f1 = path.increment(float(fine[2 * k]), float(fine[2 * k + 1]), clock)
            f2 = path.increment(float(fine[2 * k + 1]), float(fine[2 * k + 2]), clock)
            assert torch.allclose(c, f1 + f2, rtol=1e-14, atol=1e-14)
    again = BrownianPath(fine, 5, 3, seed=7).increment(1.0, 1e-3)
    assert torch.equal(again, path.increment(1.0, 1e-3))
    assert not torch.equal(BrownianPath(fine, 5, 3, seed=8).increment(1.0, 1e-3), again)


def test_brownian_increment_variance_matches_clock():
    """Var(W^c(t) - W^c(s)) = c(t) - c(s): 4-standard-error check on 20000 paths."""
    p = get_process("ve-exp")
    grid = make_grid("uniform", p, 1.0, 0.0, 4)
    path = BrownianPath(grid, 20000, 1, seed=0)
    for clock, c in ((None, lambda t: t), (p.rho, lambda t: float(p.rho(t)))):
        inc = path.increment(0.75, 0.25, clock)
        var = c(0.75) - c(0.25)
        assert abs(float(inc.var()) - var) < 4 * var * math.sqrt(2 / 20000)
        z = path.normal(0.75, 0.25, clock)
        assert torch.allclose(z, inc / math.sqrt(var), rtol=1e-10)


def test_path_on_union_of_non_nested_grids():
    """Karras grids for N and 2N are not nested; a path on their union serves both exactly."""
    p = get_process("edm")
    g1, g2 = (make_grid("karras", p, 80.0, 0.002, n) for n in (5, 10))
    path = BrownianPath.for_grids([g1, g2], 4, 2, seed=1)
    total1 = sum(path.increment(float(g1[k]), float(g1[k + 1])) for k in range(5))
    total2 = sum(path.increment(float(g2[k]), float(g2[k + 1])) for k in range(10))
    assert torch.allclose(total1, total2, rtol=1e-12, atol=1e-12)
    with pytest.raises(SgmbenchError, match="base grid"):
        BrownianPath(g1, 4, 2).increment(float(g2[1]), float(g2[2]))


def test_sampler_runs_share_the_path():
    """EM with N and 2N steps on one path: differences are O(h), far below independent-noise spread."""
    p = get_process("vp-linear")
    T, n = 1.0, 2000
    fine = make_grid("uniform", p, T, 1e-3, 256)
    coarse = make_grid("uniform", p, T, 1e-3, 128)
    path = BrownianPath(fine, n, 1, seed=0)
    x0 = initial_points(p, T, n, 1, generator=torch.Generator().manual_seed(0))
    em = get_sampler("euler-maruyama")
    a = em(p, coarse, _affine_score(p), x0, path).samples
    b = em(p, fine, _affine_score(p), x0, path).samples
    c = em(p, fine, _affine_score(p), x0, BrownianPath(fine, n, 1, seed=1)).samples
    assert float((a - b).pow(2).mean().sqrt()) < 0.05 * float((b - c).pow(2).mean().sqrt())


@pytest.mark.parametrize("name", ["euler-maruyama", "exponential-integrator", "ddpm-ancestral"])
def test_strong_order_with_shared_path(name):
    """Fitted strong order (RMS error against the solver's own fine solution on the same Brownian
    path, diffrax test_sde1 style) within 0.3 of the declared one."""
    p = get_process("vp-linear")
    T, delta, n = 1.0, 1e-2, 400
    fine_n = 1024
    grids = [make_grid("uniform", p, T, delta, k) for k in (32, 64, 128, fine_n)]
    path = BrownianPath(grids[-1], n, 1, seed=0)
    x0 = initial_points(p, T, n, 1, generator=torch.Generator().manual_seed(0))
    smp = get_sampler(name)
    ref = smp(p, grids[-1], _affine_score(p), x0, path).samples
    errs = [
        float((smp(p, g, _affine_score(p), x0, path).samples - ref).pow(2).mean().sqrt()) for g in grids[:-1]
    ]
    slope = -torch.linalg.lstsq(
        torch.tensor([[math.log(32), 1.0], [math.log(64), 1.0], [math.log(128), 1.0]], dtype=F64),
        torch.log(torch.tensor(errs, dtype=F64))[:, None],
    ).solution[0, 0]
    assert abs(float(slope) - smp.info.strong_order) < 0.3, errs


# ------------------------------------------------------------------------------------------------
# Divergence
# ------------------------------------------------------------------------------------------------
def test_absurd_step_reports_divergence_with_step():
    """One Euler–Maruyama step of ve-exp with sigma_max = 1e160: the coefficients overflow."""
    p = get_process("ve-exp:sigma_max=1e160")
    grid = make_grid("uniform", p, 1.0, 0.0, 1)
    res = get_sampler("euler-maruyama")(p, grid, _affine_score(p), torch.ones(8, 2, dtype=F64))
    assert not res.ok and res.samples is None and res.failed_step == 0
    assert "step 0" in res.failure and "non-finite" in res.failure
    with pytest.raises(DivergenceError) as info:
        res.raise_for_failure()
    assert info.value.step == 0


@pytest.mark.parametrize("name", ["euler-maruyama", "pf-euler"])
def test_exploding_norms_report_divergence(name):
    """Huge sigma_max: Euler steps amplify by ~2 h log(sigma_max/sigma_min) per step until the norm
    passes the threshold (default 1e6 x the largest initial norm); the failing step is reported."""
    p = get_process("ve-exp:sigma_max=1e100")
    grid = make_grid("uniform", p, 1.0, 0.0, 8)
    x0 = initial_points(p, 1.0, 16, 2, generator=torch.Generator().manual_seed(0))
    res = get_sampler(name)(p, grid, _affine_score(p), x0)
    assert not res.ok and res.samples is None and 0 < res.failed_step < 8
    assert "exceeds" in res.failure and f"step {res.failed_step}" in res.failure
    tight = get_sampler(name)(p, grid, _affine_score(p), x0, max_norm=1e-300)
    assert tight.failed_step == 0


def test_normal_run_does_not_fail():
    p = get_process("ve-exp")
    grid = make_grid("uniform", p, 1.0, 1e-3, 50)
    x0 = initial_points(p, 1.0, 16, 2, generator=torch.Generator().manual_seed(0))
    assert get_sampler("euler-maruyama")(p, grid, _affine_score(p), x0).ok


# ------------------------------------------------------------------------------------------------
# Initial points and bad input
# ------------------------------------------------------------------------------------------------
def test_initial_points():
    p = get_process("ve-exp")
    x = initial_points(p, 1.0, 20000, 2, generator=torch.Generator().manual_seed(0))
    var = float(p.prior_variance(1.0))
    assert abs(float(x.var()) - var) < 4 * var * math.sqrt(2 / 40000)
    target = get_target("gaussian:dim=2,mean=3,var=0.5")
    q = get_process("vp-linear")
    y = initial_points(
        q, 0.3, 20000, prior="exact", target=target, generator=torch.Generator().manual_seed(0)
    )
    law = target.noised(q, 0.3)
    assert abs(float(y.mean()) - 3 * law.alpha) < 4 * math.sqrt(
        float(law.alpha**2 * 0.5 + law.sigma2) / 40000
    )
    with pytest.raises(SgmbenchError):
        initial_points(p, 1.0, 10, 2, prior="uniform")
    with pytest.raises(SgmbenchError):
        initial_points(p, 1.0, 10, 2, prior="exact")


def test_bad_input():
    p = get_process("vp-linear")
    grid = make_grid("uniform", p, 1.0, 1e-3, 4)
    x0 = torch.zeros(8, 2, dtype=F64)
    score = _affine_score(p)
    em = get_sampler("euler-maruyama")
    with pytest.raises(SgmbenchError):
        em(p, grid, score, torch.zeros(8, dtype=F64))
    with pytest.raises(SgmbenchError):
        em(p, grid, score, torch.full((8, 2), float("nan"), dtype=F64))
    with pytest.raises(SgmbenchError):
        em(p, grid, score, x0, IndependentNoise(4, 2))
    with pytest.raises(SgmbenchError):
        em(p, grid.flip(0), score, x0)
    for spec in (
        "ddpm-ancestral:variance=big",
        "pf-exponential:parametrization=x",
        "predictor-corrector:snr=-1",
        "predictor-corrector:predictor=pf-heun",
        "predictor-corrector:corrector_steps=-1",
    ):
        with pytest.raises(SgmbenchError):
            get_sampler(spec)(p, grid, score, x0)


def test_works_with_score_objects():
    """A registered Score (exact score of a registered target) plugs in; its own counter sees the calls."""
    p = get_process("vp-linear")
    target = get_target("gaussian:dim=3,mean=1,var=0.5")
    score = build_score("exact", target, p)
    grid = make_grid("uniform", p, 1.0, 1e-3, 10)
    res = get_sampler("pf-heun")(p, grid, score, initial_points(p, 1.0, 8, target=target))
    assert res.ok and score.nfe == res.nfe == 20
