"""Closed forms between Gaussians against textbook formulas, POT, high precision (mpmath) and Monte Carlo."""

from __future__ import annotations

import math
import time

import mpmath as mp
import numpy as np
import ot
import pytest
import scipy.linalg
from scipy import stats

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import (
    bures_w2,
    bures_w2_sq,
    hellinger_diag,
    hellinger_gaussian,
    kl_diag,
    kl_gaussian,
    quadratic_form_abs_mean,
    quadratic_form_sf0,
    tv_diag,
    tv_gaussian,
    tv_gaussian_1d,
    tv_gaussian_equal_cov,
    tv_gaussian_isotropic,
    w2_diag,
    w2_sq_diag,
)


def random_pair(d, rng, scale=1.0):
    a = rng.normal(size=(d, d))
    b = rng.normal(size=(d, d))
    return (
        scale * rng.normal(size=d),
        a @ a.T / d + 0.2 * np.eye(d),
        scale * rng.normal(size=d),
        b @ b.T / d + 0.2 * np.eye(d),
    )


def kl_textbook(m1, S1, m2, S2):
    d = len(m1)
    iS = np.linalg.inv(S2)
    dm = m2 - m1
    return 0.5 * (np.trace(iS @ S1) + dm @ iS @ dm - d + np.linalg.slogdet(S2)[1] - np.linalg.slogdet(S1)[1])


def bc_textbook(m1, S1, m2, S2):
    Sb = 0.5 * (S1 + S2)
    dm = m1 - m2
    logbc = (
        0.25 * np.linalg.slogdet(S1)[1]
        + 0.25 * np.linalg.slogdet(S2)[1]
        - 0.5 * np.linalg.slogdet(Sb)[1]
        - dm @ np.linalg.solve(Sb, dm) / 8
    )
    return math.exp(logbc)


# ------------------------------------------------------------------------------------------------
# W2
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 3, 10])
def test_bures_matches_pot(d):
    rng = np.random.default_rng(d)
    m1, S1, m2, S2 = random_pair(d, rng)
    ref = float(ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2))
    assert bures_w2(m1, S1, m2, S2) == pytest.approx(ref, rel=1e-10)
    assert bures_w2(m1, S1, m2, S2) == pytest.approx(bures_w2(m2, S2, m1, S1), rel=1e-10)  # symmetric


def test_w2_1d_and_diag_closed_form():
    assert w2_diag([0.3], [4.0], [-0.2], [1.0]) == pytest.approx(math.sqrt(0.25 + 1.0), rel=1e-15)
    v1, v2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 2.0, 0.1])
    expect = np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2) + 1.0
    assert w2_sq_diag([0, 0, 0], v1, [1, 0, 0], v2) == pytest.approx(expect, rel=1e-14)
    assert w2_diag(np.zeros(3), v1, np.zeros(3), v1) == 0.0


def test_w2_no_cancellation_for_close_laws():
    """(sqrt v1 - sqrt v2)^2 at v2 = v1 (1 + 1e-12): the naive form returns noise, ours the exact value."""
    v1 = np.array([1.0, 3.0])
    v2 = v1 * (1 + 1e-12)
    mp.mp.dps = 40
    exact = sum((mp.sqrt(mp.mpf(a)) - mp.sqrt(mp.mpf(b))) ** 2 for a, b in zip(v1, v2))
    assert w2_sq_diag(np.zeros(2), v1, np.zeros(2), v2) == pytest.approx(float(exact), rel=1e-12)


def test_bures_sylvester_form_close_full_covariances():
    """Full, non-commuting covariances 1e-7 apart: agree with a 40-digit sqrtm evaluation."""
    rng = np.random.default_rng(5)
    _, S1, _, _ = random_pair(3, rng)
    E = rng.normal(size=(3, 3))
    S2 = S1 + 1e-7 * (E + E.T)
    mp.mp.dps = 50
    A = mp.sqrtm(mp.matrix(S1.tolist()))
    M = mp.sqrtm(A * mp.matrix(S2.tolist()) * A)
    exact = sum(mp.matrix(S1.tolist())[i, i] + mp.matrix(S2.tolist())[i, i] - 2 * M[i, i] for i in range(3))
    assert bures_w2_sq(np.zeros(3), S1, np.zeros(3), S2) == pytest.approx(float(exact), rel=1e-6)
    # the textbook evaluation has absolute error ~1e-16 tr S, i.e. relative error ~1 here
    assert float(exact) < 1e-12


def test_bures_singular_covariance():
    S1 = np.diag([1.0, 0.0])  # degenerate law
    S2 = np.eye(2)
    assert bures_w2_sq(np.zeros(2), S1, np.zeros(2), S2) == pytest.approx(1.0, rel=1e-12)
    Z = np.zeros((2, 2))
    R = np.array([[0.0, 0.0], [0.0, 2.0]])
    assert bures_w2_sq(np.zeros(2), Z, np.ones(2), R) == pytest.approx(2.0 + 2.0, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# KL
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 4, 12])
def test_kl_matches_textbook(d):
    rng = np.random.default_rng(10 + d)
    m1, S1, m2, S2 = random_pair(d, rng)
    assert kl_gaussian(m1, S1, m2, S2) == pytest.approx(kl_textbook(m1, S1, m2, S2), rel=1e-10)
    v1, v2 = np.diag(S1).copy(), np.diag(S2).copy()
    assert kl_diag(m1, v1, m2, v2) == pytest.approx(kl_textbook(m1, np.diag(v1), m2, np.diag(v2)), rel=1e-12)


def test_kl_tiny_is_accurate():
    """KL ~1e-17: the series for eps - log1p(eps) keeps all digits (checked at 40 digits)."""
    mp.mp.dps = 40
    v1, v2, dm = 1.0 + 2.0**-26, 1.0, 2.0**-30  # exactly representable inputs
    eps = mp.mpf(v1) / v2 - 1
    exact = 0.5 * (eps - mp.log(1 + eps)) + 0.5 * mp.mpf(dm) ** 2 / v2
    assert kl_diag([dm], [v1], [0.0], [v2]) == pytest.approx(float(exact), rel=1e-13)
    assert float(exact) < 1e-15
    assert kl_diag([0.3], [2.0], [0.3], [2.0]) == 0.0


def test_kl_matches_monte_carlo():
    rng = np.random.default_rng(3)
    m1, S1, m2, S2 = random_pair(3, rng)
    x = rng.multivariate_normal(m1, S1, size=200_000)
    L = stats.multivariate_normal(m1, S1).logpdf(x) - stats.multivariate_normal(m2, S2).logpdf(x)
    se = L.std() / math.sqrt(len(L))
    assert abs(kl_gaussian(m1, S1, m2, S2) - L.mean()) < 4 * se


def test_talagrand_and_pinsker_cross_checks():
    rng = np.random.default_rng(7)
    for _ in range(6):
        m1, S1, m2, S2 = random_pair(3, rng, scale=0.5)
        kl = kl_gaussian(m1, S1, m2, S2)
        w2sq = bures_w2_sq(m1, S1, m2, S2)
        lam_max = np.linalg.eigvalsh(S2).max()
        assert w2sq <= 2 * lam_max * kl * (1 + 1e-10)  # Talagrand T2 for Q = N(m2, S2)
        tv = tv_gaussian(m1, S1, m2, S2)
        assert 0.0 <= tv <= 1.0
        assert tv <= math.sqrt(kl / 2) + 1e-12  # Pinsker, both directions
        assert tv <= math.sqrt(kl_gaussian(m2, S2, m1, S1) / 2) + 1e-12
        assert tv <= math.sqrt(1 - math.exp(-kl)) + 1e-12  # Bretagnolle-Huber
        h = hellinger_gaussian(m1, S1, m2, S2)
        assert h**2 - 1e-12 <= tv <= h * math.sqrt(2 - h**2) + 1e-12  # Le Cam
        assert kl >= -2 * math.log(1 - h**2) - 1e-12  # KL >= -2 log BC


# ------------------------------------------------------------------------------------------------
# Hellinger
# ------------------------------------------------------------------------------------------------
def test_hellinger_matches_textbook():
    rng = np.random.default_rng(11)
    m1, S1, m2, S2 = random_pair(5, rng)
    assert hellinger_gaussian(m1, S1, m2, S2) ** 2 == pytest.approx(
        1 - bc_textbook(m1, S1, m2, S2), rel=1e-10
    )
    assert hellinger_gaussian(m1, S1, m2, S2) == pytest.approx(hellinger_gaussian(m2, S2, m1, S1), rel=1e-10)
    v1, v2 = np.array([1.0, 2.0]), np.array([1.5, 0.5])
    ref = 1 - bc_textbook(np.zeros(2), np.diag(v1), np.array([0.3, 0]), np.diag(v2))
    assert hellinger_diag(np.zeros(2), v1, [0.3, 0], v2) ** 2 == pytest.approx(ref, rel=1e-12)
    assert hellinger_diag([1.0], [2.0], [1.0], [2.0]) == 0.0


# ------------------------------------------------------------------------------------------------
# TV
# ------------------------------------------------------------------------------------------------
def tv_1d_mp(m1, s1, m2, s2, dps=40):
    """The two-crossing closed form at high precision."""
    mp.mp.dps = dps
    m1, s1, m2, s2 = (mp.mpf(v) for v in (m1, s1, m2, s2))
    A = 1 / s2**2 - 1 / s1**2
    B = 2 * (m1 / s1**2 - m2 / s2**2)
    C = m2**2 / s2**2 - m1**2 / s1**2 + 2 * mp.log(s2 / s1)
    r = mp.sqrt(B * B - 4 * A * C)
    x1, x2 = sorted([(-B - r) / (2 * A), (-B + r) / (2 * A)])
    F = lambda x, m, s: mp.ncdf((x - m) / s)  # noqa: E731
    return abs((F(x2, m1, s1) - F(x1, m1, s1)) - (F(x2, m2, s2) - F(x1, m2, s2)))


@pytest.mark.parametrize("m2,s2", [(0.3, 1.5), (-2.0, 0.4), (0.0, 1.1), (5.0, 3.0)])
def test_tv_1d_closed_form_and_imhof(m2, s2):
    exact = float(tv_1d_mp(0.0, 1.0, m2, s2))
    assert tv_gaussian_1d(0.0, 1.0, m2, s2) == pytest.approx(exact, abs=1e-14)
    imhof = tv_diag([0.0], [1.0], [m2], [s2 * s2], method="imhof")
    assert imhof == pytest.approx(exact, abs=2e-12)
    assert tv_gaussian_1d(m2, s2, 0.0, 1.0) == pytest.approx(exact, abs=1e-14)  # symmetric


def test_tv_equal_cov_closed_form():
    S = np.array([[2.0, 0.3], [0.3, 1.0]])
    dm = np.array([0.4, -0.2])
    delta = math.sqrt(dm @ np.linalg.solve(S, dm))
    expect = 2 * stats.norm.cdf(delta / 2) - 1
    assert tv_gaussian_equal_cov(np.zeros(2), dm, S) == pytest.approx(expect, rel=1e-14)
    assert tv_gaussian(np.zeros(2), S, dm, S, method="imhof") == pytest.approx(expect, abs=2e-12)
    # tiny shift: erf keeps relative accuracy
    assert tv_gaussian_equal_cov([0.0], [1e-12], 1.0) == pytest.approx(
        1e-12 / math.sqrt(2 * math.pi), rel=1e-10
    )


def test_tv_isotropic_against_high_precision_reduction():
    """d = 4, N(0, I) vs N(0.2*1, 1.69 I): a 30-digit 1-D reduction gives 0.30576139166732002."""
    exact = 0.30576139166732002247
    assert tv_gaussian_isotropic(np.zeros(4), 1.0, np.full(4, 0.2), 1.3) == pytest.approx(exact, abs=1e-14)
    assert tv_diag(
        np.zeros(4), np.ones(4), np.full(4, 0.2), np.full(4, 1.69), method="imhof"
    ) == pytest.approx(exact, abs=5e-12)


@pytest.mark.parametrize("d", [2, 10, 50])
def test_tv_isotropic_vs_imhof(d):
    rng = np.random.default_rng(d)
    m2 = 0.1 * rng.normal(size=d)
    iso = tv_gaussian_isotropic(np.zeros(d), 1.0, m2, 1.05)
    imhof = tv_diag(np.zeros(d), np.ones(d), m2, np.full(d, 1.05**2), method="imhof")
    assert iso == pytest.approx(imhof, abs=1e-10)


def test_tv_series_for_tiny_tv():
    """Below 1e-6 the first-order expansion replaces the near-1/2 difference; relative error ~1.5 TV."""
    for eps in (1e-6, 1e-8, 1e-10):
        exact = float(tv_1d_mp(0.0, 1.0, 0.0, math.sqrt(1 + eps), dps=60))
        got = tv_diag([0.0], [1.0], [0.0], [1 + eps])
        assert got == pytest.approx(exact, rel=max(3 * exact, 1e-9))
    # and in 2-D (Imhof's regime) the series and the inversion agree where both are accurate
    s = tv_diag([0, 0], [1, 1], [0, 3e-5], [1 + 3e-5, 1], method="series")
    i = tv_diag([0, 0], [1, 1], [0, 3e-5], [1 + 3e-5, 1], method="imhof")
    assert s == pytest.approx(i, rel=1e-4)


def test_quadratic_form_helpers():
    # Z^2 - 1 > 0  <=>  |Z| > 1
    assert quadratic_form_sf0([1.0], [0.0], -1.0) == pytest.approx(2 * stats.norm.sf(1.0), abs=1e-12)
    # E|Z + c| closed form
    c = 0.7
    expect = 2 * stats.norm.pdf(c) + c * (2 * stats.norm.cdf(c) - 1)
    assert quadratic_form_abs_mean([0.0], [1.0], c) == pytest.approx(expect, rel=1e-9)
    # E|Z^2 - 1| = 4 phi(1)
    assert quadratic_form_abs_mean([1.0], [0.0], -1.0) == pytest.approx(4 * stats.norm.pdf(1.0), rel=1e-9)


@pytest.mark.parametrize("d", [3, 10])
def test_tv_general_against_monte_carlo(d):
    rng = np.random.default_rng(20 + d)
    m1, S1, m2, S2 = random_pair(d, rng, scale=0.3)
    tv = tv_gaussian(m1, S1, m2, S2)
    n = 200_000
    x = rng.multivariate_normal(m1, S1, size=n)
    L = stats.multivariate_normal(m1, S1).logpdf(x) - stats.multivariate_normal(m2, S2).logpdf(x)
    f = np.maximum(0, -np.expm1(-L))
    assert abs(tv - f.mean()) < 4 * f.std() / math.sqrt(n)
    assert tv_gaussian(m2, S2, m1, S1) == pytest.approx(tv, abs=5e-12)  # symmetric


def test_tv_full_and_diag_paths_agree():
    rng = np.random.default_rng(2)
    d = 6
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]
    v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    mu1, mu2 = rng.normal(size=d) * 0.3, rng.normal(size=d) * 0.3
    full = tv_gaussian(U @ mu1, (U * v1) @ U.T, U @ mu2, (U * v2) @ U.T)
    assert full == pytest.approx(tv_diag(mu1, v1, mu2, v2), abs=1e-10)


def test_tv_d1000_diag_is_fast_and_bounded():
    rng = np.random.default_rng(0)
    d = 1000
    v1 = rng.uniform(0.5, 2, d)
    v2 = v1 * (1 + 0.01 * rng.normal(size=d))
    t0 = time.perf_counter()
    tv = tv_diag(np.zeros(d), v1, 0.01 * rng.normal(size=d), v2)
    assert time.perf_counter() - t0 < 5.0  # ~0.03 s; generous for a loaded machine (see benchmarks/perf)
    assert 0.0 < tv < 1.0
    assert tv_diag(np.zeros(d), v1, np.zeros(d), v1) == 0.0
    far = tv_diag(np.zeros(d), v1, np.full(d, 10.0), v1)
    assert far == 1.0


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_one_line_errors():
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, -1
    cases = [
        lambda: kl_gaussian(np.zeros(2), bad, np.zeros(2), np.eye(2)),
        lambda: tv_gaussian(np.zeros(2), np.eye(2), np.zeros(2), bad),
        lambda: bures_w2(np.zeros(2), bad, np.zeros(2), np.eye(2)),
        lambda: kl_diag([0, 0], [1, -1], [0, 0], [1, 1]),
        lambda: kl_gaussian(np.zeros(3), np.eye(2), np.zeros(2), np.eye(2)),  # shape mismatch
        lambda: tv_diag([0, 0], [1, 1], [0], [1]),
        lambda: hellinger_gaussian(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)),
        lambda: tv_gaussian_1d(0, -1, 0, 1),
        lambda: tv_diag([0.0], [1.0], [0.0], [2.0], method="nonsense"),
    ]
    for case in cases:
        with pytest.raises(SgmbenchError) as err:
            case()
        assert "\n" not in str(err.value)


def test_generalized_eigen_reduction_matches_scipy():
    rng = np.random.default_rng(4)
    m1, S1, m2, S2 = random_pair(4, rng)
    lam = scipy.linalg.eigh(S2, S1, eigvals_only=True)
    from sgmbench.metrics._util import gaussian_from_moments
    from sgmbench.metrics.gaussian import standardize_pair

    eps, _ = standardize_pair(gaussian_from_moments(m1, S1), gaussian_from_moments(m2, S2))
    assert np.sort(eps + 1) == pytest.approx(np.sort(lam), rel=1e-12)
