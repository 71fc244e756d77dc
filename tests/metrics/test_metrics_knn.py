"""k-NN KL and entropy against closed forms (Gaussians) and quadrature (1-D mixture)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import entropy_knn, estimate, kl_knn, kl_knn_known_density, noise_floor
from sgmbench.targets.gaussian import GaussianTarget

from .conftest import quad_kl


def tol(rec, fl):
    """|value - truth| allowed: 4 reported stderr + the floor's size (mean ± 2 se) at this n."""
    return 4 * rec.stderr + abs(fl.value) + 2 * fl.stderr


def test_kl_knn_shifted_gaussians_d2():
    target = GaussianTarget(torch.zeros(2), 1.0)
    rng = np.random.default_rng(0)
    n = 4000
    shift = np.array([0.4, 0.3])
    x_gen = rng.normal(size=(n, 2)) + shift
    y_ref = rng.normal(size=(n, 2))
    truth = 0.5 * shift @ shift  # equal covariances: both directions
    fl = noise_floor("kl", target, n, "knn", replicates=3)
    for rec in (kl_knn(y_ref, x_gen), kl_knn(x_gen, y_ref, metric="kl_reverse")):
        assert abs(rec.value - truth) <= tol(rec, fl), (rec.value, rec.stderr, fl)
        assert rec.meaningful


def test_kl_knn_known_density_d5():
    d, n = 5, 4000
    target = GaussianTarget(torch.zeros(d), 1.0)
    rng = np.random.default_rng(1)
    scale = 1.15
    x = rng.normal(size=(n, d)) * scale
    ref = rng.normal(size=(n, d))
    lp = lambda z: stats.multivariate_normal(np.zeros(d)).logpdf(z)  # noqa: E731
    rec = kl_knn_known_density(x, lp(x), ref, lp(ref))
    truth = 0.5 * d * (scale**2 - 1 - math.log(scale**2))  # KL(N(0, s^2 I) || N(0, I))
    fl = noise_floor("kl_reverse", target, n, "knn-known-density", replicates=3)
    assert abs(rec.value - truth) <= tol(rec, fl), (rec.value, rec.stderr, truth, fl)


def test_entropy_knn_gaussian():
    rng = np.random.default_rng(2)
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = rng.multivariate_normal([1.0, -1.0], S, size=5000)
    h, se = entropy_knn(x, k=3)
    truth = 0.5 * np.linalg.slogdet(2 * math.pi * math.e * S)[1]
    assert abs(h - truth) <= 4 * se + 0.02


def test_kl_knn_on_1d_mixture_vs_quadrature(mix_p, mix_q):
    """estimate('kl') with the k-NN default: KL(target || generated) on a 1-D mixture known by quadrature."""
    n = 5000
    x = mix_q.sample(n, torch.Generator().manual_seed(3))
    rec = estimate("kl", x, mix_p, seed=4, estimator="knn", floor_replicates=3)
    truth = quad_kl(mix_p, mix_q)
    assert abs(rec.value - truth) <= 4 * rec.stderr + abs(rec.floor) + 2 * rec.floor_stderr
    rev = estimate("kl_reverse", x, mix_p, seed=4, floor_replicates=3)  # default: knn-known-density
    assert rev.estimator.startswith("knn-known-density")
    assert abs(rev.value - quad_kl(mix_q, mix_p)) <= 4 * rev.stderr + abs(rev.floor) + 2 * rev.floor_stderr


def test_knn_high_dimension_flagged():
    rng = np.random.default_rng(5)
    rec = kl_knn(rng.normal(size=(300, 12)), rng.normal(size=(300, 12)))
    assert not rec.meaningful and "d = 12" in rec.note
    x = rng.normal(size=(300, 25))
    lp = np.zeros(300)
    assert not kl_knn_known_density(x, lp, rng.normal(size=(300, 25)), lp).meaningful
    # d = 12 through the dispatcher: the floor cannot lift a bias flag
    target = GaussianTarget(torch.zeros(12), 1.0)
    rec = estimate("kl", rng.normal(size=(300, 12)) + 3.0, target, floor_replicates=2)
    assert not rec.meaningful


def test_knn_bad_input():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(100, 2))
    with pytest.raises(SgmbenchError, match="duplicate"):
        kl_knn(np.vstack([x, x[:5]]), rng.normal(size=(100, 2)))
    with pytest.raises(SgmbenchError, match="shape mismatch"):
        kl_knn(x, rng.normal(size=(100, 3)))
    with pytest.raises(SgmbenchError, match="k ="):
        kl_knn(x[:3], x[3:6], k=5)
    with pytest.raises(SgmbenchError, match="same size"):
        kl_knn_known_density(x, np.zeros(100), x[:50], np.zeros(50))


def test_brute_force_path_matches_tree():
    from sgmbench.metrics.knn import kth_neighbour_distances

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(150, 16))
    brute = kth_neighbour_distances(x, y, 3)
    ref = np.sort(np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)), axis=1)[:, 2]
    assert brute == pytest.approx(ref, rel=1e-10)
    self_brute = kth_neighbour_distances(x, x, 1, exclude_self=True)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert self_brute == pytest.approx(d.min(axis=1), rel=1e-6)
