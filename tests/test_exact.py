"""Exact generated laws: against Monte Carlo of the actual samplers, fitted orders against declared
orders, the continuous-time closed forms, published reference numbers, the KDE law, bad input."""

import math

import pytest
import torch

from sgmbench.brownian import IndependentNoise
from sgmbench.errors import DivergenceError, SgmbenchError
from sgmbench.exact import (
    continuous_law,
    exact_law,
    exact_laws,
    kde_law,
    langevin_affine,
    reference_law,
    step_maps,
)
from sgmbench.grids import make_grid
from sgmbench.laws import DiagGaussian
from sgmbench.processes import get_process
from sgmbench.samplers import available_samplers, get_sampler, initial_points, sampler_info
from sgmbench.scores import build_score
from sgmbench.targets import get_target

ALL = available_samplers()
F64 = torch.float64
ROTATED = "gaussian:dim=3,mean=0.5,var=0.3,cond=10,rotate=true"
TARGET = "gaussian:dim=3,mean=0.5;1;-1,var=0.2;1;3"


def w2(p: DiagGaussian, q: DiagGaussian) -> float:
    r"""$W_2$ between two Gaussians diagonal in one basis, without cancellation in the variance part."""
    dv = (p.var - q.var) / (p.var.sqrt() + q.var.sqrt())
    return float(((p.mean - q.mean) ** 2 + dv**2).sum().sqrt())


def kl(p: DiagGaussian, q: DiagGaussian) -> float:
    """KL(p || q) for Gaussians diagonal in one basis."""
    r = p.var / q.var
    return float(0.5 * ((r - 1 - torch.log(r)).sum() + ((p.mean - q.mean) ** 2 / q.var).sum()))


def _eigen_coords(x, law: DiagGaussian):
    return x if law.basis is None else x @ law.basis


def _assert_matches_monte_carlo(x, law: DiagGaussian, n: int):
    """Mean within 4 sqrt(var/n), variance within 4 var sqrt(2/n), per eigen-coordinate."""
    y = _eigen_coords(x, law)
    mean_err = (y.mean(0) - law.mean).abs()
    var_err = (y.var(0) - law.var).abs()
    assert bool((mean_err < 4 * (law.var / n).sqrt()).all()), (mean_err, law.var)
    assert bool((var_err < 4 * law.var * math.sqrt(2 / n)).all()), (var_err, law.var)


# ------------------------------------------------------------------------------------------------
# Exact law = law of the actual sampler
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("process_name", ["vp-linear", "ve-exp"])
def test_exact_law_matches_monte_carlo(name, process_name):
    """The recursion against 200k paths of the sampler itself (rotated target: the eigenbasis matters)."""
    p = get_process(process_name)
    target = get_target(ROTATED)
    T, n = p.default_horizon, 200_000
    grid = make_grid("uniform", p, T, 0.05, 6)
    score = build_score("exact", target, p)
    gen = torch.Generator().manual_seed(11)
    x0 = initial_points(p, T, n, target=target, generator=gen)
    res = get_sampler(name)(p, grid, score, x0, IndependentNoise(n, 3, gen))
    assert res.ok
    law = exact_law(target, p, grid, name, score)
    _assert_matches_monte_carlo(res.samples, law, n)
    # far from p_delta with 6 steps: the check has power
    assert w2(law, reference_law(target, p, 0.05)) > 1e-3


@pytest.mark.parametrize(
    "spec", ["perturbed:kind=bias,size=0.5", "perturbed:kind=scale,size=0.2,schedule=sigma2"]
)
@pytest.mark.parametrize("name", ["euler-maruyama", "predictor-corrector:snr=0.3,corrector_steps=2"])
def test_exact_law_with_perturbed_score_and_exact_prior(spec, name):
    p = get_process("subvp")
    target = get_target(ROTATED)
    n = 200_000
    grid = make_grid("geometric", p, 1.0, 0.05, 5)
    score = build_score(spec, target, p)
    gen = torch.Generator().manual_seed(5)
    x0 = initial_points(p, 1.0, n, prior="exact", target=target, generator=gen)
    res = get_sampler(name)(p, grid, score, x0, IndependentNoise(n, 3, gen))
    law = exact_law(target, p, grid, name, score, prior="exact")
    _assert_matches_monte_carlo(res.samples, law, n)
    assert w2(law, exact_law(target, p, grid, name, prior="exact")) > 1e-2  # the perturbation shows


def test_exact_score_object_and_fast_path_agree():
    """A Score's per-time affine(t) and the vectorised closed form give the same law."""
    p = get_process("vp-cosine")
    target = get_target(ROTATED)
    grid = make_grid("karras", p, p.default_horizon, 1e-3, 40)
    score = build_score("exact", target, p)

    class Wrapped:  # hides the type so the per-time path runs
        def affine(self, t):
            return score.affine(t)

    for name in ALL:
        a = exact_law(target, p, grid, name, Wrapped())
        b = exact_law(target, p, grid, name)
        assert torch.allclose(a.mean, b.mean, rtol=1e-12, atol=1e-14)
        assert torch.allclose(a.var, b.var, rtol=1e-12)
        assert a.basis is target.eigh()[1]


def test_propagation_equals_sequential_recursion():
    """Closed-form suffix-product sums = the step-by-step recursion m <- M m + c, v <- M^2 v + Q."""
    p = get_process("ve-exp")
    target = get_target(TARGET)
    grid = make_grid("benton", p, p.default_horizon, 1e-3, 33)
    for name in ALL:
        M, c, Q = step_maps(target, p, grid, name)
        m, v = torch.zeros(3, dtype=F64), torch.full((3,), float(p.prior_variance(1.0)), dtype=F64)
        for k in range(M.shape[0]):
            m, v = M[k] * m + c[k], M[k] ** 2 * v + Q[k]
        law = exact_law(target, p, grid, name)
        assert torch.allclose(law.mean, m, rtol=1e-10, atol=1e-12)
        assert torch.allclose(law.var, v, rtol=1e-10)


def test_batched_equals_single():
    p = get_process("ou")
    target = get_target(TARGET)
    grids = [make_grid("uniform", p, 8.0, 1e-3, n) for n in (3, 17, 64)]
    for name in ("pf-heun", "predictor-corrector"):
        many = exact_laws(target, p, grids, name, prior="exact")
        for g, law in zip(grids, many):
            one = exact_law(target, p, g, name, prior="exact")
            assert torch.allclose(one.mean, law.mean, rtol=1e-13, atol=1e-15)
            assert torch.allclose(one.var, law.var, rtol=1e-13)


def test_langevin_affine_composition():
    """m Langevin steps compose as (M^m, c sum M^j, Q sum M^2j); fixed point Sigma / (1 - eps/(2 Sigma))."""
    a, b = torch.tensor([-2.0], dtype=F64), torch.tensor([1.0], dtype=F64)
    eps = torch.tensor([0.1], dtype=F64)
    M, c, Q = langevin_affine(a, b, eps, 3)
    m, v = torch.tensor([0.3], dtype=F64), torch.tensor([2.0], dtype=F64)
    for _ in range(3):
        m, v = (1 + eps * a) * m + eps * b, (1 + eps * a) ** 2 * v + 2 * eps
    assert torch.allclose(M * 0.3 + c, m) and torch.allclose(M**2 * 2.0 + Q, v)
    M, c, Q = langevin_affine(a, b, eps, 2000)
    assert float(Q / (1 - M**2)) == pytest.approx(0.5 / (1 - 0.1 / (2 * 0.5)), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Orders
# ------------------------------------------------------------------------------------------------
def _fitted_slope(ns, errs) -> float:
    x = torch.log(torch.tensor(ns, dtype=F64))
    y = torch.log(torch.tensor(errs, dtype=F64))
    x = x - x.mean()
    return -float((x * (y - y.mean())).sum() / (x * x).sum())


ORDER_NS = [2**k for k in range(4, 19)]


@pytest.mark.parametrize("name", [s for s in ALL if sampler_info(s).consistent])
@pytest.mark.parametrize("process_name", ["vp-linear", "ve-exp", "ou"])
def test_fitted_order_matches_declared(name, process_name):
    r"""$W_2(q_N, p_\delta)$ from the exact law, prior = p_T (no prior floor, metrics-and-exact.md §8),
    N = 2^4..2^18 on uniform grids: the slope fitted over the last three doublings is within 0.1 of
    the declared order, and the error falls by at least the declared factor over the whole range
    (VE + Euler–Maruyama is pre-asymptotic, slope ~2, up to N ~ 10^4: §3.4 and §8 trap 2)."""
    p = get_process(process_name)
    target = get_target(TARGET)
    T, delta = p.default_horizon, 1e-3
    order = sampler_info(name).weak_order
    laws = exact_laws(
        target, p, [make_grid("uniform", p, T, delta, n) for n in ORDER_NS], name, prior="exact"
    )
    ref = reference_law(target, p, delta)
    errs = [w2(law, ref) for law in laws]
    assert all(e > 0 for e in errs)
    assert abs(_fitted_slope(ORDER_NS[-4:], errs[-4:]) - order) < 0.1, errs
    assert errs[-1] < errs[0] * (ORDER_NS[0] / ORDER_NS[-1]) ** (0.8 * order)


def test_pc_has_a_bias_floor_scaling_like_snr_squared():
    """Predictor–corrector (declared inconsistent): its W2 error stops falling at a floor ~ snr^2;
    snr = 0 reduces it to its predictor exactly."""
    p = get_process("vp-linear")
    target = get_target(TARGET)
    ref = reference_law(target, p, 0.1)
    grids = [make_grid("uniform", p, 1.0, 0.1, n) for n in (2**14, 2**17)]
    floors = []
    for snr in (0.32, 0.16):
        e = [
            w2(law, ref)
            for law in exact_laws(target, p, grids, f"predictor-corrector:snr={snr}", prior="exact")
        ]
        assert abs(e[1] / e[0] - 1) < 0.05
        floors.append(e[1])
    assert 3.5 < floors[0] / floors[1] < 4.5
    a = exact_law(target, p, grids[0], "predictor-corrector:snr=0", prior="exact")
    b = exact_law(target, p, grids[0], "ddpm-ancestral", prior="exact")
    assert torch.allclose(a.mean, b.mean, rtol=1e-13) and torch.allclose(a.var, b.var, rtol=1e-13)


def test_ode_prior_floor():
    """metrics-and-exact.md §8 trap 1: from the N(0, sigma_T^2 I) prior on VP-linear (T = 1) the
    probability-flow samplers stop at the continuous-time floor of continuous_law(..., ode=True)."""
    p = get_process("vp-linear")
    target = get_target("gaussian:dim=2,mean=1,var=0.5")
    ref = reference_law(target, p, 1e-3)
    floor = w2(continuous_law(target, p, 1.0, 1e-3, ode=True), ref)
    assert 1e-3 < floor < 5e-2
    law = exact_law(target, p, make_grid("uniform", p, 1.0, 1e-3, 4096), "pf-heun")
    assert w2(law, ref) == pytest.approx(floor, rel=1e-3)


# ------------------------------------------------------------------------------------------------
# Closed forms and published numbers
# ------------------------------------------------------------------------------------------------
def test_reference_law_is_the_noised_target():
    p = get_process("vp-linear")
    target = get_target(ROTATED)
    for t in (0.0, 0.3, 1.0):
        a, b = reference_law(target, p, t), target.noised(p, t).as_diag_gaussian()
        assert torch.allclose(a.mean, b.mean, rtol=1e-14) and torch.allclose(a.var, b.var, rtol=1e-14)
        assert a.same_basis(b)


@pytest.mark.parametrize("process_name", ["vp-linear", "ve-exp", "subvp"])
def test_continuous_law_is_the_limit_of_the_samplers(process_name):
    """§3.3 closed forms, prior N(0, sigma_T^2 I): Heun converges to the ODE one at order 2, the
    exponential integrator to the SDE one at order 1 (and its Richardson extrapolation lands on it)."""
    p = get_process(process_name)
    target = get_target(ROTATED)
    T, delta = p.default_horizon, 1e-2
    grids = [make_grid("geometric", p, T, delta, n) for n in (2**13, 2**14)]
    scale = math.sqrt(float(target.eigh()[0].sum()))
    ode = continuous_law(target, p, T, delta, ode=True)
    e = [w2(law, ode) for law in exact_laws(target, p, grids, "pf-heun")]
    assert 3.5 < e[0] / e[1] < 4.5 and e[1] < 1e-5 * scale, e  # second-order convergence to the closed form
    sde = continuous_law(target, p, T, delta)
    ei = exact_laws(target, p, grids, "exponential-integrator")
    e = [w2(law, sde) for law in ei]
    assert 1.8 < e[0] / e[1] < 2.2, e  # first-order convergence to the closed form
    extrap = DiagGaussian(2 * ei[1].mean - ei[0].mean, 2 * ei[1].var - ei[0].var, ei[0].basis)
    assert w2(extrap, sde) < 0.05 * e[1] and w2(extrap, sde) < 1e-5 * scale
    exact_start = continuous_law(target, p, T, delta, prior="exact")
    ref = reference_law(target, p, delta)
    assert torch.allclose(exact_start.mean, ref.mean, rtol=1e-12) and torch.allclose(exact_start.var, ref.var)


def test_reproduces_published_ou_table():
    """bounds-tv-kl.md §7: d=10, lambda=0.5, m=1, OU, T=8, EI, exact score, uniform grid, N(0, I) start."""
    p = get_process("ou")
    target = get_target("gaussian:dim=10,mean=1,var=0.5")
    ref = reference_law(target, p, 0.0)
    expect = {
        10: (7.03, 4.85),
        20: (1.70, 1.37),
        40: (0.424, 0.554),
        160: (0.0256, 0.118),
        640: (0.00157, 0.0283),
    }
    for n, (kl_ref, w2_ref) in expect.items():
        law = exact_law(target, p, make_grid("uniform", p, 8.0, 0.0, n), "exponential-integrator")
        assert kl(ref, law) == pytest.approx(kl_ref, rel=6e-3)
        assert w2(law, ref) == pytest.approx(w2_ref, rel=6e-3)


# ------------------------------------------------------------------------------------------------
# KDE law of the empirical optimal score
# ------------------------------------------------------------------------------------------------
def test_kde_law_parameters_and_density():
    p = get_process("ou")
    y = torch.tensor([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0]], dtype=F64)
    law = kde_law(y, p, 0.1)
    assert torch.allclose(law.means, math.exp(-0.1) * y) and law.var == pytest.approx(1 - math.exp(-0.2))
    assert float(law.weights.sum()) == pytest.approx(1.0)
    x = torch.tensor([[0.3, 0.2], [5.0, 5.0]], dtype=F64)
    dens = sum(
        torch.exp(-((x - m) ** 2).sum(-1) / (2 * law.var)) / (2 * math.pi * law.var) / 3 for m in law.means
    )
    assert torch.allclose(law.log_prob(x), torch.log(dens), rtol=1e-12)
    assert law.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 2)
    with pytest.raises(SgmbenchError):
        kde_law(y, p, 0.0).log_prob(x)
    with pytest.raises(SgmbenchError):
        kde_law(y[0], p, 0.1)


def _ks(sorted_x: torch.Tensor, cdf: torch.Tensor) -> float:
    """Kolmogorov–Smirnov statistic sqrt(n) sup |F_n - F| of sorted samples against CDF values at them."""
    n = sorted_x.numel()
    i = torch.arange(1, n + 1, dtype=F64) / n
    return float(torch.maximum((i - cdf).abs(), (i - 1 / n - cdf).abs()).max()) * math.sqrt(n)


def test_kde_law_is_the_output_of_the_empirical_score_sampler():
    """Li–Chen–Li: with the empirical optimal score the reverse process outputs the Gaussian KDE
    (1/n) sum N(alpha_delta y_i, sigma_delta^2 I). Heun (50 steps, OU, T = 8, 20000 samples): the
    KS statistic against the KDE is below the 0.1% critical value 1.95, against p_delta it is huge."""
    p = get_process("ou")
    target = get_target("gaussian:dim=1,mean=0,var=1")
    score = build_score("empirical-optimal:num_train=5", target, p, seed=3)
    delta, n = 0.05, 20_000
    law = kde_law(score.training.points, p, delta)
    grid = make_grid("geometric", p, 8.0, delta, 50)
    x0 = initial_points(p, 8.0, n, 1, generator=torch.Generator().manual_seed(0))
    x = get_sampler("pf-heun")(p, grid, score, x0).samples[:, 0].sort().values
    kde_cdf = torch.special.ndtr((x[:, None] - law.means[:, 0]) / math.sqrt(law.var)) @ law.weights
    assert _ks(x, kde_cdf) < 1.95
    assert _ks(x, torch.special.ndtr(x)) > 10  # p_delta = N(0, 1) for this target


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------
def test_errors():
    p = get_process("vp-linear")
    grid = make_grid("uniform", p, 1.0, 1e-3, 4)
    target = get_target(TARGET)
    mixture = get_target("mixture")
    with pytest.raises(SgmbenchError, match="Gaussian target"):
        exact_law(mixture, p, grid, "pf-euler")
    with pytest.raises(SgmbenchError, match="not affine"):
        exact_law(target, p, grid, "pf-euler", build_score("perturbed:kind=field,size=0.1", target, p))
    with pytest.raises(SgmbenchError, match="plain callable"):
        exact_law(target, p, grid, "pf-euler", lambda x, t: -x)
    with pytest.raises(SgmbenchError):
        exact_law(target, p, grid, "pf-euler", prior="uniform")
    with pytest.raises(SgmbenchError):
        exact_law(target, p, grid, "rk4")
    with pytest.raises(SgmbenchError):
        exact_law(target, p, grid, "predictor-corrector:snr=-2")
    with pytest.raises(SgmbenchError):
        continuous_law(target, p, 1.0, 1.0)


def test_overflowing_law_raises_divergence():
    p = get_process("ve-exp:sigma_max=1e160")
    target = get_target(TARGET)
    with pytest.raises(DivergenceError) as info:
        exact_law(target, p, make_grid("uniform", p, 1.0, 0.0, 3), "euler-maruyama")
    assert info.value.step == 0
