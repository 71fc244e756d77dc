"""Kwon–Fan–Lee Theorem 1: equality for an isotropic Gaussian with exact score + constant bias (continuous
time).

bounds-wasserstein.md §2.3: with q_T = p_T the synchronous difference of the model and the exact reverse SDE
is deterministic, D(delta) = c int_delta^T g^2 I(t) dt, so W2(p_delta, q_delta) = |c| int g^2 I and Theorem 1
is attained. The continuous-time W2 is computed here in closed form (OU, isotropic N(mu, lam I)): I(t) =
(alpha_t / alpha_delta) (Sigma_delta / Sigma_t), Sigma_t = e^{-2t} lam + 1 - e^{-2t}, and with u = e^{-t}
int_delta^T 2 e^{-t} / Sigma_t dt = int_{e^-T}^{e^-delta} 2 / (1 + (lam - 1) u^2) du (arctan / artanh).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from sgmbench.bounds import BoundContext, get_bound
from sgmbench.exact import continuous_law, exact_law, reference_law
from sgmbench.grids import make_grid
from sgmbench.metrics.gaussian import w2_diag
from sgmbench.processes import get_process
from sgmbench.scores import build_score
from sgmbench.targets import get_target

DT = torch.float64


def ou_bias_w2_closed_form(lam: float, c: float, T: float, delta: float) -> float:
    """|c| int_delta^T g^2 I dt for OU and N(mu, lam I) (module docstring)."""
    if lam > 1:
        k = math.sqrt(lam - 1)
        F = lambda u: 2 / k * math.atan(k * u)  # noqa: E731
    elif lam < 1:
        k = math.sqrt(1 - lam)
        F = lambda u: 2 / k * math.atanh(k * u)  # noqa: E731
    else:
        F = lambda u: 2 * u  # noqa: E731
    sig_delta = math.exp(-2 * delta) * lam + 1 - math.exp(-2 * delta)
    return abs(c) * (F(math.exp(-delta)) - F(math.exp(-T))) * sig_delta / math.exp(-delta)


def _ctx(target, process, T, delta, score, prior):
    grid = torch.tensor([T, delta], dtype=DT)
    return BoundContext.from_objects(target, process, grid, score, sampler="continuous", prior=prior)


@pytest.mark.parametrize("lam", [0.3, 1.0, 2.0])
def test_thm1_equality_isotropic_bias(lam):
    d, c, T, delta = 3, 0.05, 5.0, 0.01
    target = get_target(f"gaussian:dim={d},mean=1,var={lam}")
    process = get_process("ou")
    score = build_score(f"perturbed:kind=bias,size={c}", target, process)
    res = get_bound("kfl2022-thm1").evaluate(_ctx(target, process, T, delta, score, "exact"))
    assert res.applicable, res.failed
    truth = ou_bias_w2_closed_form(lam, c, T, delta)
    assert res.term("initialisation") == 0.0
    assert res.value == pytest.approx(truth, rel=2e-6)
    cor = get_bound("kfl2022-cor1").evaluate(_ctx(target, process, T, delta, score, "exact"))
    assert cor.value >= res.value * (1 - 1e-9)  # Cauchy-Schwarz


def test_closed_form_is_the_continuous_time_limit_of_the_exact_sampler():
    """Independent check of the closed form: the exact EI law's mean shift converges to it at O(h)
    (Richardson extrapolation agrees to ~1e-7) and its variance error vanishes, so W2 -> the closed form."""
    lam, c, T, delta = 2.0, 0.05, 5.0, 0.01
    target = get_target(f"gaussian:dim=3,mean=1,var={lam}")
    process = get_process("ou")
    score = build_score(f"perturbed:kind=bias,size={c}", target, process)
    ref = reference_law(target, process, delta)
    shifts, verr = [], []
    for N in (4000, 8000):
        law = exact_law(
            target,
            process,
            make_grid("uniform", process, T, delta, N),
            "exponential-integrator",
            score,
            prior="exact",
        )
        shifts.append(float((law.mean - ref.mean).norm()))
        verr.append(float((law.var.sqrt() - ref.var.sqrt()).norm()))
    truth = ou_bias_w2_closed_form(lam, c, T, delta)
    assert 2 * shifts[1] - shifts[0] == pytest.approx(truth, rel=1e-6)
    assert verr[1] < 0.6 * verr[0] and verr[1] < 1e-3


def _continuous_w2_with_bias(target, process, T, delta, bias_coords, prior):
    """W2(p_delta, q_delta) for the continuous-time model, exact score + constant bias, per eigen-direction:
    the bias adds the mean shift c_i int g^2 I_i, I_i(t) = (alpha_t/alpha_delta)(lam_delta,i/lam_t,i), to the
    exact-score law of sgmbench.exact.continuous_law (scipy quad, independent of the bound's quadrature)."""
    lam, _ = target.eigh()
    shifts = []
    for i, li in enumerate(lam.tolist()):

        def integrand(t, li=li):
            a = float(process.alpha(t))
            s2 = float(process.sigma2(t))
            ad, s2d = float(process.alpha(delta)), float(process.sigma2(delta))
            return float(process.g2(t)) * (a / ad) * (ad**2 * li + s2d) / (a**2 * li + s2)

        val, _ = integrate.quad(integrand, delta, T, epsabs=1e-13, epsrel=1e-11, limit=200)
        shifts.append(float(bias_coords[i]) * val)
    law = continuous_law(target, process, T, delta, prior=prior)
    ref = reference_law(target, process, delta)
    mean = law.mean + torch.tensor(shifts, dtype=DT)
    return w2_diag(ref.mean.numpy(), ref.var.numpy(), mean.numpy(), law.var.numpy())


@pytest.mark.parametrize(
    "target_spec,process_spec,T,prior",
    [
        ("gaussian:dim=4,mean=0.5,var=0.2,cond=20", "vp-linear", 1.0, "exact"),
        ("gaussian:dim=4,mean=0.5,var=0.2,cond=20", "vp-linear", 1.0, "gaussian"),
        ("gaussian:dim=3,mean=1,var=2", "ve-exp:sigma_max=10", 1.0, "gaussian"),
        ("gaussian:dim=2,mean=-1,var=0.5,cond=4", "ou", 3.0, "gaussian"),
    ],
)
def test_thm1_and_cor1_hold_anisotropic(target_spec, process_spec, T, prior):
    delta, c = 1e-3, 0.1
    target = get_target(target_spec)
    process = get_process(process_spec)
    score = build_score(f"perturbed:kind=bias,size={c}", target, process)
    _, basis = target.eigh()
    v = score._direction if basis is None else basis.T @ score._direction
    w2 = _continuous_w2_with_bias(target, process, T, delta, c * v, prior)
    ctx = _ctx(target, process, T, delta, score, prior)
    thm1 = get_bound("kfl2022-thm1").evaluate(ctx)
    cor1 = get_bound("kfl2022-cor1").evaluate(ctx)
    assert thm1.applicable and cor1.applicable
    assert w2 <= thm1.value * (1 + 1e-6)
    assert thm1.value <= cor1.value * (1 + 1e-9)


def test_kfl_rejects_discretised_sampler():
    target = get_target("gaussian:dim=2,mean=0,var=1")
    process = get_process("ou")
    score = build_score("exact", target, process)
    grid = make_grid("uniform", process, 4.0, 0.0, 50)
    ctx = BoundContext.from_objects(target, process, grid, score, sampler="exponential-integrator")
    res = get_bound("kfl2022-thm1").evaluate(ctx)
    assert not res.applicable
    assert [c.name for c in res.failed] == ["continuous time"]


def test_one_sided_lipschitz_of_affine_score_is_top_eigenvalue():
    target = get_target("gaussian:dim=3,mean=0,var=0.5,cond=8")
    process = get_process("vp-linear")
    score = build_score("perturbed:kind=scale,size=0.2", target, process)
    ctx = _ctx(target, process, 1.0, 0.01, score, "exact")
    t = 0.3
    a, _ = score.affine(t)
    assert float(ctx.score_one_sided_lipschitz(torch.tensor([t], dtype=DT))[0]) == pytest.approx(
        float(a.max()), rel=1e-12
    )
    assert np.isfinite(get_bound("kfl2022-thm1").evaluate(ctx).value)


def test_kfl_inapplicable_when_the_score_error_is_not_integrable_at_zero():
    """A sigma_t^-2-scheduled bias has int g^2 I sqrt(b) = +inf on [0, T]: no finite value is reported."""
    target = get_target("gaussian:dim=2,mean=0,var=1")
    process = get_process("ou")
    score = build_score("perturbed:kind=bias,size=0.01,schedule=sigma2", target, process)
    res = get_bound("kfl2022-thm1").evaluate(_ctx(target, process, 3.0, 0.0, score, "exact"))
    assert not res.applicable and res.failed[-1].name == "score error integrable"
    assert get_bound("kfl2022-thm1").evaluate(_ctx(target, process, 3.0, 1e-3, score, "exact")).applicable
