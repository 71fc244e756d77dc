"""TV from samples: equal-mass histograms (with their floor) and the classifier lower bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sgmbench.errors import SgmbenchError
from sgmbench.metrics import tv_classifier, tv_diag, tv_histogram
from sgmbench.metrics.tv import equal_mass_cells, histogram_tv_floor


def test_histogram_1d_vs_binned_population_tv():
    """Against the exact TV of the binned laws on the same cells, which is <= the true TV."""
    rng = np.random.default_rng(0)
    n = 20000
    x, y = rng.normal(size=(n, 1)) + 0.5, rng.normal(size=(n, 1))
    rec = tv_histogram(x, y, bins=20)
    pooled = np.sort(np.vstack([x, y])[:, 0])
    edges = np.concatenate([[-np.inf], pooled[(np.arange(1, 20) * 2 * n) // 20], [np.inf]])
    p = np.diff(stats.norm.cdf(edges - 0.5))
    q = np.diff(stats.norm.cdf(edges))
    binned = 0.5 * np.abs(p - q).sum()
    truth = tv_diag([0.5], [1.0], [0.0], [1.0])
    assert binned <= truth
    assert abs(rec.value - binned) <= 4 * rec.stderr + rec.floor
    assert 0.0 <= rec.ci_low <= rec.ci_high <= 1.0


def test_histogram_floor_formula_matches_simulation():
    rng = np.random.default_rng(1)
    n, B = 5000, 40
    vals = [tv_histogram(rng.normal(size=(n, 1)), rng.normal(size=(n, 1)), bins=B).value for _ in range(30)]
    predicted = histogram_tv_floor(np.full(B, 1 / B), n, n)
    assert predicted == pytest.approx(math.sqrt((1 - 1 / B) * B / (math.pi * n)), rel=1e-12)
    assert abs(np.mean(vals) - predicted) < 4 * np.std(vals) / math.sqrt(30) + 0.05 * predicted


def test_equal_mass_cells_2d():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(1024, 2)) @ np.array([[1.0, 0.8], [0.0, 0.6]])
    cells = equal_mass_cells(pts, 16)
    assert np.all(np.bincount(cells, minlength=16) == 64)
    with pytest.raises(SgmbenchError, match="power-of-2"):
        equal_mass_cells(pts, 12)


def test_histogram_2d_shifted():
    rng = np.random.default_rng(3)
    n = 20000
    x, y = rng.normal(size=(n, 2)) + [0.6, 0.0], rng.normal(size=(n, 2))
    rec = tv_histogram(x, y)
    truth = tv_diag([0.6, 0], [1, 1], [0, 0], [1, 1])
    assert rec.value <= truth + 4 * rec.stderr + rec.floor  # binning biases down
    assert rec.value > 0.5 * truth


def test_histogram_guards():
    rng = np.random.default_rng(4)
    with pytest.raises(SgmbenchError, match="d <= 2"):
        tv_histogram(rng.normal(size=(100, 3)), rng.normal(size=(100, 3)))
    with pytest.raises(SgmbenchError):
        tv_histogram(rng.normal(size=(10, 1)), rng.normal(size=(10, 1)), bins=50)


def test_classifier_lower_bound_gaussian_pair():
    rng = np.random.default_rng(5)
    n = 4000
    S2 = np.array([1.6, 0.7])
    x = rng.normal(size=(n, 2)) * np.sqrt(S2) + [0.3, 0.0]
    y = rng.normal(size=(n, 2))
    truth = tv_diag([0.3, 0.0], S2, [0, 0], [1, 1])
    rec = tv_classifier(x, y, seed=0)
    assert rec.kind == "lower_bound" and "2 acc - 1" in rec.note
    assert rec.value <= truth + 4 * rec.stderr  # a lower bound up to test noise
    assert rec.value >= truth - 4 * rec.stderr - 0.03  # quadratic logistic is near Bayes-optimal here
    same = tv_classifier(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), seed=1)
    assert same.value <= 4 * same.stderr
    assert 0 <= same.ci_low <= same.ci_high <= 1


def test_classifier_models_and_guards():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(400, 3)) + 1.0, rng.normal(size=(400, 3))
    for model in ("linear", "quadratic", "mlp"):
        rec = tv_classifier(x, y, model=model)
        assert 0.0 <= rec.value <= 1.0 and rec.estimator.endswith(model)
    with pytest.raises(SgmbenchError, match="unknown classifier"):
        tv_classifier(x, y, model="forest")
    with pytest.raises(SgmbenchError):
        tv_classifier(x[:8], y[:8])
