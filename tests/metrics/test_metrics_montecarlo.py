"""Monte Carlo with exact log-densities against quadrature (1-D mixtures) and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.laws import DiagGaussian
from sgmbench.metrics import (
    hellinger_monte_carlo,
    kl_from_log_densities,
    kl_monte_carlo,
    measure_between_laws,
    tv_from_log_densities,
    tv_monte_carlo,
)

from .conftest import quad_hellinger, quad_kl, quad_tv


def within(rec, truth, k=4.0):
    return abs(rec.value - truth) <= k * rec.stderr


def test_kl_mc_mixture_vs_quadrature(mix_p, mix_q):
    truth = quad_kl(mix_p, mix_q)
    rec = kl_monte_carlo(mix_p, mix_q, n=40_000, seed=1)
    assert within(rec, truth), (rec.value, rec.stderr, truth)
    cv = kl_monte_carlo(mix_p, mix_q, n=40_000, seed=1, control_variate=True)
    assert within(cv, truth)
    assert cv.stderr < rec.stderr  # close laws: the control variate helps
    rev = measure_between_laws("kl_reverse", mix_p, mix_q, n=40_000, seed=2)
    assert within(rev, quad_kl(mix_q, mix_p))
    assert rec.ci_low <= rec.value <= rec.ci_high


@pytest.mark.parametrize("method", ["mixture", "p", "q"])
def test_tv_mc_mixture_vs_quadrature(mix_p, mix_q, method):
    truth = quad_tv(mix_p, mix_q)
    rec = tv_monte_carlo(mix_p, mix_q, n=40_000, seed=3, method=method)
    assert within(rec, truth), (rec.value, rec.stderr, truth)
    assert 0.0 <= rec.ci_low <= rec.ci_high <= 1.0


def test_hellinger_mc_vs_quadrature(mix_p, mix_q):
    truth = quad_hellinger(mix_p, mix_q)
    rec = hellinger_monte_carlo(mix_p, mix_q, n=40_000, seed=4)
    assert within(rec, truth)
    tv = quad_tv(mix_p, mix_q)
    assert truth**2 <= tv <= truth * math.sqrt(2 - truth**2)  # Le Cam bracket on the truths


def test_mc_between_a_law_and_itself_is_exactly_zero(mix_p):
    for metric in ("kl", "kl_reverse", "tv", "hellinger"):
        rec = measure_between_laws(metric, mix_p, mix_p, n=1000)
        assert rec.value == 0.0 and rec.floor == 0.0 and not rec.exact


def test_mc_agrees_with_gaussian_closed_form():
    """A DiagGaussian wrapped so that it is not recognised as Gaussian goes through Monte Carlo."""

    class Opaque:
        def __init__(self, g):
            self.g, self.dim = g, g.dim

        def sample(self, n, generator=None):
            return self.g.sample(n, generator)

        def log_prob(self, x):
            x = torch.as_tensor(x, dtype=torch.float64)
            v = self.g.var
            return -0.5 * (((x - self.g.mean) ** 2 / v).sum(-1) + torch.log(2 * math.pi * v).sum())

    p = DiagGaussian(torch.zeros(3, dtype=torch.float64), torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))
    q = DiagGaussian(
        torch.tensor([0.2, 0.0, -0.1], dtype=torch.float64),
        torch.tensor([1.2, 1.8, 0.5], dtype=torch.float64),
    )
    for metric in ("kl", "kl_reverse", "tv", "hellinger"):
        exact = measure_between_laws(metric, p, q)
        assert exact.exact
        mc = measure_between_laws(metric, Opaque(p), Opaque(q), n=40_000, seed=5)
        assert within(mc, exact.value), (metric, mc.value, mc.stderr, exact.value)


def test_array_level_estimators():
    lp = np.log([0.5, 0.2, 0.3])
    assert kl_from_log_densities(lp, lp)[0] == 0.0
    assert tv_from_log_densities(lp, lp)[0] == 0.0
    value, _ = tv_from_log_densities(np.zeros(2), np.array([-np.inf, 0.0]))
    assert value == 0.5
    assert kl_from_log_densities(np.zeros(2), np.array([-np.inf, 0.0]))[0] == math.inf
    with pytest.raises(SgmbenchError):
        kl_from_log_densities(np.zeros(3), np.zeros(2))
    with pytest.raises(SgmbenchError):
        tv_from_log_densities(np.zeros(1), np.zeros(1))


def test_mc_bad_inputs(mix_p):
    with pytest.raises(SgmbenchError):
        tv_monte_carlo(mix_p, mix_p, n=1)
    with pytest.raises(SgmbenchError):
        tv_monte_carlo(mix_p, mix_p, n=100, method="bogus")
    g2 = DiagGaussian(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    with pytest.raises(SgmbenchError, match="shape mismatch"):
        measure_between_laws("tv", mix_p, g2)
    with pytest.raises(SgmbenchError, match="no closed form"):
        measure_between_laws("w2", mix_p, mix_p)
