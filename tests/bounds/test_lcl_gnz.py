"""Li-Chen-Li's asymptotic score-error constant J(t) and the continuous-time limit of our GNZ-type bound."""

from __future__ import annotations

import math

import pytest
import torch

from sgmbench.bounds import BoundContext, get_bound
from sgmbench.bounds.lcl import j_constant
from sgmbench.grids import make_grid
from sgmbench.processes import get_process
from sgmbench.scores import build_score
from sgmbench.setting import Setting
from sgmbench.targets import get_target


@pytest.mark.parametrize("t,expected", [(0.1, 249.168), (0.5, 9.2067), (1.0, 1.8102), (2.0, 0.19005)])
def test_j_constant_matches_quadrature(t, expected):
    """empirical-score.md §2.2: direct quadrature of the defining integral, d = 1, s^2 = 10, OU."""
    alpha, sigma2 = math.exp(-t), 1 - math.exp(-2 * t)
    assert j_constant(alpha, sigma2, 10.0, 1) == pytest.approx(
        expected, rel=5e-5
    )  # the note gives 5-6 digits


def test_j_constant_by_independent_quadrature():
    """J(t) = int E_y[phi(x|y)^2 |(alpha y - x)/sigma^2 - grad log p_t(x)|^2] / p_t(x) dx for d = 1, by a 2-D
    trapezoid rule on a wide grid (spectrally accurate for these Gaussian integrands; the x-integrand decays
    only
    like exp(-(1/a_t - 1/b_t) x^2/2), so the grid must reach |x| ~ 25)."""
    import numpy as np

    t, s2 = 0.7, 3.0
    a, sg2 = math.exp(-t), 1 - math.exp(-2 * t)
    var_t = a * a * s2 + sg2
    x = np.arange(-25, 25.02, 0.04)[:, None]
    y = np.arange(-62.5, 62.52, 0.04)[None, :]
    norm = lambda z, v: np.exp(-z * z / (2 * v)) / np.sqrt(2 * np.pi * v)  # noqa: E731
    integrand = norm(x - a * y, sg2) ** 2 * ((a * y - x) / sg2 + x / var_t) ** 2 * norm(y, s2)
    inner = np.trapezoid(integrand, y[0], axis=1) / norm(x[:, 0], var_t)
    J = float(np.trapezoid(inner, x[:, 0]))
    assert j_constant(a, sg2, s2, 1) == pytest.approx(J, rel=1e-10)


def test_lcl_bound_applies_to_the_empirical_optimal_score_only():
    s = Setting(
        target="gaussian:dim=1,mean=0,var=2",
        process="ou",
        horizon=3.0,
        steps=4,
        early_stop=0.2,
        grid="geometric",
        score="empirical-optimal:num_train=40",
        reference="early-stopped",
    )
    ctx = BoundContext.from_setting(s, error_samples=512)
    res = get_bound("lcl2024-score-error").evaluate(ctx)
    assert res.applicable and ctx.num_train == 40
    times = ctx.score_times
    expect = (
        sum(j_constant(math.exp(-float(t)), 1 - math.exp(-2 * float(t)), 2.0, 1) for t in times)
        / len(times)
        / 40
    )
    assert res.value == pytest.approx(expect, rel=1e-12)
    aniso = BoundContext.from_setting(
        s.replace(target="gaussian:dim=2,mean=0,var=2,cond=3"), error_samples=256
    )
    assert [c.name for c in get_bound("lcl2024-score-error").evaluate(aniso).failed] == [
        "isotropic Gaussian data"
    ]


def test_gnz_score_term_tends_to_its_continuous_limit():
    """bounds-wasserstein.md §1.4: for VP and m_0 = 1 the score term -> 2M(1 - e^{-B_T/2}); for an isotropic
    Gaussian with a bias and prior = p_T this is also the exact W2 (contraction with equality)."""
    target = get_target("gaussian:dim=2,mean=1,var=1")
    process = get_process("ou")
    M, T = 0.1, 4.0
    score = build_score(f"perturbed:kind=bias,size={M}", target, process)
    vals = []
    for N in (4000, 16000):
        ctx = BoundContext.from_objects(
            target, process, make_grid("uniform", process, T, 0.0, N), score, prior="exact"
        )
        res = get_bound("gnz2025-w2").evaluate(ctx)
        assert res.term("initialisation") == 0.0
        vals.append((res.term("score"), res.term("discretisation")))
    limit = 2 * M * (1 - math.exp(-T))
    assert vals[1][0] == pytest.approx(limit, rel=1e-4)
    assert abs(vals[1][0] - limit) < abs(vals[0][0] - limit)
    # the discretisation term decays like h^(1/2): a 4x finer grid halves it
    assert vals[0][1] / vals[1][1] == pytest.approx(2.0, rel=0.08)


def test_gnz_init_term_contracts_like_the_paper_says():
    """init = prod_k c_k W2(p_T, prior), prod_k c_k -> exp int (f - a g^2) = alpha_T / (alpha_T^2 + m_0
    sigma_T^2) as h -> 0 (VP; bounds-wasserstein.md §1.4 writes init = alpha_T^2/(alpha_T^2 + m_0 sigma_T^2)
    |x_0|_L2 with the
    coupling distance alpha_T |x_0|_L2)."""
    target = get_target("gaussian:dim=3,mean=1,var=0.5")
    process = get_process("vp-linear")
    ctx = BoundContext.from_objects(
        target, process, make_grid("uniform", process, 1.0, 0.0, 16000), build_score("exact", target, process)
    )
    res = get_bound("gnz2025-w2").evaluate(ctx)
    from sgmbench.bounds.base import init_w2

    aT, s2T, m0 = float(process.alpha(1.0)), float(process.sigma2(1.0)), 2.0
    factor = aT / (aT**2 + m0 * s2T)
    assert res.term("initialisation") == pytest.approx(factor * init_w2(ctx).value, rel=5e-3)
    assert torch.isfinite(torch.tensor(res.value))
