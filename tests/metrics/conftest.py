"""Shared laws for the metric tests: 1-D Gaussian mixtures with exact log-densities and quadrature truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from sgmbench.metrics import clear_floor_cache


class Mixture1D:
    """sum_k w_k N(mu_k, s_k^2) on R, with ``sample(n, generator)`` and ``log_prob(x)`` (float64 torch)."""

    def __init__(self, weights, means, stds):
        self.w = np.asarray(weights, float)
        self.mu = np.asarray(means, float)
        self.s = np.asarray(stds, float)
        self.dim = 1
        self.cache_key = f"mixture1d:{self.w.tolist()}:{self.mu.tolist()}:{self.s.tolist()}"

    def sample(self, n, generator=None, **_):
        k = torch.multinomial(torch.as_tensor(self.w), n, replacement=True, generator=generator).numpy()
        z = torch.randn(n, generator=generator, dtype=torch.float64).numpy()
        return torch.from_numpy((self.mu[k] + self.s[k] * z)[:, None])

    def log_prob(self, x):
        x = np.asarray(x, float).reshape(-1)
        comp = stats.norm.logpdf(x[:, None], self.mu, self.s) + np.log(self.w)
        m = comp.max(axis=1, keepdims=True)
        return torch.from_numpy(m[:, 0] + np.log(np.exp(comp - m).sum(axis=1)))

    def pdf(self, x):
        return float(np.sum(self.w * stats.norm.pdf(x, self.mu, self.s)))

    def components(self):
        return [(float(w), float(m), float(s * s)) for w, m, s in zip(self.w, self.mu, self.s)]


def quad_kl(p: Mixture1D, q: Mixture1D) -> float:
    """KL(p || q) by adaptive quadrature."""

    def f(x):
        a, b = p.pdf(x), q.pdf(x)
        return a * (math.log(a) - math.log(b)) if a > 0 else 0.0

    return integrate.quad(f, -30, 30, limit=400, epsabs=1e-13, epsrel=1e-11, points=[*p.mu, *q.mu])[0]


def quad_tv(p: Mixture1D, q: Mixture1D) -> float:
    return (
        0.5
        * integrate.quad(
            lambda x: abs(p.pdf(x) - q.pdf(x)), -30, 30, limit=400, epsabs=1e-13, points=[*p.mu, *q.mu]
        )[0]
    )


def quad_hellinger(p: Mixture1D, q: Mixture1D) -> float:
    bc = integrate.quad(lambda x: math.sqrt(p.pdf(x) * q.pdf(x)), -30, 30, limit=400, epsabs=1e-13)[0]
    return math.sqrt(max(1 - bc, 0.0))


@pytest.fixture
def mix_p() -> Mixture1D:
    return Mixture1D([0.3, 0.7], [-1.0, 1.5], [0.6, 1.0])


@pytest.fixture
def mix_q() -> Mixture1D:
    return Mixture1D([0.4, 0.6], [-0.8, 1.4], [0.7, 1.1])


@pytest.fixture(autouse=True)
def _fresh_floor_cache():
    clear_floor_cache()
    yield
