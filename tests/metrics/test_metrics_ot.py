"""W2 from samples: exact OT, sliced, Bures fit, 1-D semi-discrete, against closed forms and POT."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from scipy import integrate, optimize, stats

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import (
    cost_matrix,
    noise_floor,
    sliced_w2,
    w2_bures_fit,
    w2_exact,
    w2_semi_discrete_1d,
    w2_sq_exact,
)

from .conftest import Mixture1D


class Normal:
    """N(mean, I_d) with sample/log_prob, a stand-in target for floors."""

    def __init__(self, d, shift=0.0):
        self.dim, self.shift = d, shift
        self.cache_key = f"normal:{d}:{shift}"

    def sample(self, n, generator=None):
        import torch

        return torch.randn(n, self.dim, generator=generator, dtype=torch.float64) + self.shift


def test_exact_ot_equals_assignment_and_is_symmetric():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 0.3
    rec = w2_sq_exact(x, y)
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r, c = optimize.linear_sum_assignment(M)
    assert rec.value == pytest.approx(M[r, c].mean(), rel=1e-12)
    assert w2_sq_exact(y, x).value == pytest.approx(rec.value, rel=1e-12)
    assert w2_exact(x, y).value == pytest.approx(math.sqrt(rec.value), rel=1e-14)
    assert cost_matrix(x, y) == pytest.approx(M, abs=1e-12)


def test_exact_ot_shifted_gaussians_within_floor_and_stderr():
    """E W2^2_hat ~ truth + floor (d = 2): |value - truth| <= floor + 4 stderr."""
    shift = np.array([0.5, 0.0])
    rng = np.random.default_rng(1)
    n = 1000
    x, y = rng.normal(size=(n, 2)) + shift, rng.normal(size=(n, 2))
    rec = w2_sq_exact(x, y)
    fl = noise_floor("w2_sq", Normal(2), n, "ot-exact", replicates=3)
    assert 0 < fl.value < 0.1
    assert abs(rec.value - 0.25) <= fl.value + 4 * rec.stderr, (rec.value, rec.stderr, fl.value)


def test_exact_ot_dual_stderr_matches_replicates():
    rng = np.random.default_rng(2)
    vals, ses = [], []
    for _ in range(12):
        x, y = rng.normal(size=(400, 2)) + [1.0, 0.0], rng.normal(size=(400, 2))
        r = w2_sq_exact(x, y)
        vals.append(r.value)
        ses.append(r.stderr)
    sd = np.std(vals, ddof=1)
    assert 0.5 * sd < np.mean(ses) < 2.0 * sd


def test_exact_ot_non_convergence_detected():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    with pytest.raises(SgmbenchError, match="result_code 3"):
        w2_exact(x, y, num_iter_max=50)
    rec = w2_exact(x, y, num_iter_max=50, strict=False)
    assert not rec.meaningful and "MAX_ITER_REACHED" in rec.note and math.isnan(rec.stderr)
    # POT's own default stops early at n ~ 4000 (ANCHORS §4.3); our default 1e9 does not
    assert w2_exact(x, y).meaningful


def test_exact_ot_guards():
    rng = np.random.default_rng(4)
    with pytest.raises(SgmbenchError, match="max_n"):
        w2_exact(rng.normal(size=(50, 2)), rng.normal(size=(50, 2)), max_n=40)
    with pytest.raises(SgmbenchError, match="shape mismatch"):
        w2_exact(rng.normal(size=(50, 2)), rng.normal(size=(50, 3)))
    with pytest.raises(SgmbenchError, match="at least 2"):
        w2_exact(rng.normal(size=(1, 2)), rng.normal(size=(50, 2)))
    with pytest.raises(SgmbenchError, match="non-finite"):
        w2_exact(np.full((5, 2), np.nan), rng.normal(size=(5, 2)))
    rec = w2_exact(rng.normal(size=(30, 12)), rng.normal(size=(30, 12)))
    assert not rec.meaningful and "d = 12" in rec.note


def test_sliced_matches_pot_and_conditional_truth():
    rng = np.random.default_rng(5)
    d, n, L = 3, 2000, 100
    delta = np.array([0.6, -0.2, 0.1])
    x, y = rng.normal(size=(n, d)) + delta, rng.normal(size=(n, d))
    rec = sliced_w2(x, y, n_projections=L, seed=7)
    proj = ot.sliced.get_random_projections(d, L, seed=7)
    assert rec.value == pytest.approx(
        float(ot.sliced_wasserstein_distance(x, y, projections=proj)), rel=1e-12
    )
    # same-covariance Gaussians: W2^2 of each projection is (theta . delta)^2, so the truth given the
    # projections is their mean; the floor ~6/n adds on top
    truth_sq = float(np.mean((delta @ proj) ** 2))
    se_sq = 2 * rec.value * rec.stderr
    assert abs(rec.value**2 - truth_sq) <= 6 / n + 4 * se_sq
    lb = sliced_w2(x, y, n_projections=L, seed=7, metric="w2")
    assert lb.kind == "lower_bound" and lb.value == pytest.approx(math.sqrt(d) * rec.value)
    assert sliced_w2(y, x, n_projections=L, seed=7).value == pytest.approx(rec.value, rel=1e-12)


def test_bures_fit_against_pot_and_truth():
    rng = np.random.default_rng(6)
    n = 4000
    x = rng.multivariate_normal([0.3, 0.0], [[1.5, 0.2], [0.2, 0.7]], size=n)
    y = rng.normal(size=(n, 2))
    rec = w2_bures_fit(x, y)
    mx, Sx, my, Sy = x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T)
    ref = float(ot.gaussian.bures_wasserstein_distance(mx, my, Sx, Sy))
    assert rec.value == pytest.approx(ref, rel=1e-12)
    # POT's empirical version uses 1/n covariances: equal up to O(1/n)
    pot = float(ot.gaussian.empirical_bures_wasserstein_distance(x, y, reg=0.0, bias=True))
    assert rec.value == pytest.approx(pot, rel=1e-3)
    assert rec.kind == "lower_bound" and "Gelbrich" in rec.note
    from sgmbench.metrics import bures_w2

    truth = bures_w2([0.3, 0.0], [[1.5, 0.2], [0.2, 0.7]], [0, 0], np.eye(2))
    exact_target = w2_bures_fit(x, target=(np.zeros(2), np.eye(2)))
    for r in (rec, exact_target):
        assert abs(r.value - truth) <= 4 * r.stderr + 2e-3  # O(d/n) bias
    with pytest.raises(SgmbenchError):
        w2_bures_fit(x)


def test_bures_fit_is_a_lower_bound_for_non_gaussian():
    """Gelbrich: W2(mixture, N(0,1)) >= Bures W2 of the moments (exact 1-D values by quadrature)."""
    mix = Mixture1D([0.5, 0.5], [-1.5, 1.5], [0.5, 0.5])
    mean, var = 0.0, 0.25 + 1.5**2
    # exact W2 between the mixture and N(0,1) by the quantile integral
    from sgmbench.metrics.ot import _mixture_quantiles

    u = np.linspace(0, 1, 20001)[1:-1]
    qm = _mixture_quantiles(mix.components(), u)
    w2sq = integrate.simpson((qm - stats.norm.ppf(u)) ** 2, x=u)
    bures_sq = (mean - 0) ** 2 + (math.sqrt(var) - 1) ** 2
    assert bures_sq < w2sq


def semi_discrete_gaussian_dossier(x, m, s):
    """metrics-and-exact §4.1 closed form (verbatim)."""
    xs = np.sort(x)
    n = len(xs)
    z = stats.norm.ppf(np.arange(0, n + 1) / n)
    phi = stats.norm.pdf(z)
    with np.errstate(invalid="ignore"):
        zphi = np.where(np.isfinite(z), z * phi, 0.0)
    c = xs - m
    return float(
        np.sum(c**2 / n - 2 * c * s * (phi[:-1] - phi[1:]) + s**2 * (1 / n - (zphi[1:] - zphi[:-1])))
    )


def test_semi_discrete_gaussian_closed_form():
    rng = np.random.default_rng(7)
    x = rng.normal(size=3000) * 1.2 + 0.3
    rec = w2_semi_discrete_1d(x, [(1.0, 0.0, 1.0)], metric="w2_sq")
    assert rec.value == pytest.approx(semi_discrete_gaussian_dossier(x, 0.0, 1.0), rel=1e-10)
    truth = 0.3**2 + 0.2**2
    assert abs(rec.value - truth) <= 4 * rec.stderr + 5e-3  # bias ~ log log n / n
    # a mixture of identical components is the same law
    mix = w2_semi_discrete_1d(x, [(0.5, 0.0, 1.0), (0.5, 0.0, 1.0)], metric="w2_sq")
    assert mix.value == pytest.approx(rec.value, rel=1e-9)


def test_semi_discrete_mixture_against_quadrature():
    mix = Mixture1D([0.3, 0.7], [-1.0, 1.5], [0.6, 1.0])
    rng = np.random.default_rng(8)
    x = np.sort(rng.normal(size=20))
    rec = w2_semi_discrete_1d(x, mix.components(), metric="w2_sq")
    cdf = lambda t: sum(w * stats.norm.cdf(t, m, s) for w, m, s in zip(mix.w, mix.mu, mix.s))  # noqa: E731
    ppf = lambda u: optimize.brentq(lambda t: cdf(t) - u, -40, 40, xtol=1e-14)  # noqa: E731
    n = len(x)
    # cell i: int_{i/n}^{(i+1)/n} (x_i - F^{-1}(u))^2 du = int_{q_i}^{q_{i+1}} (x_i - t)^2 f(t) dt
    q = [-np.inf] + [ppf(i / n) for i in range(1, n)] + [np.inf]
    total = sum(
        integrate.quad(
            lambda t, i=i: (x[i] - t) ** 2 * mix.pdf(t), q[i], q[i + 1], epsabs=1e-13, epsrel=1e-11
        )[0]
        for i in range(n)
    )
    assert rec.value == pytest.approx(total, rel=1e-6)
    with pytest.raises(SgmbenchError):
        w2_semi_discrete_1d(rng.normal(size=(10, 2)), mix.components())
    with pytest.raises(SgmbenchError):
        w2_semi_discrete_1d(x, [(0.5, 0.0, 1.0)])
