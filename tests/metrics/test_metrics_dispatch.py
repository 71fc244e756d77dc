"""The entry points: registries, default estimators, floors and their cache, verdicts, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import sgmbench.metrics as M
from sgmbench.errors import SgmbenchError
from sgmbench.laws import DiagGaussian
from sgmbench.metrics import MetricRecord, estimate, measure_between_laws, noise_floor
from sgmbench.targets.gaussian import GaussianTarget

from .conftest import Mixture1D

F64 = torch.float64


def diag(mean, var, basis=None):
    return DiagGaussian(torch.as_tensor(mean, dtype=F64), torch.as_tensor(var, dtype=F64), basis)


# ------------------------------------------------------------------------------------------------
# Registries: every entry passes the same interface test
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", M.available_metrics())
def test_metric_registry_entries(name):
    m = M.get_metric(name)
    assert m.name == name and m.summary and m.lower == 0.0


@pytest.mark.parametrize("name", M.available_estimators())
def test_estimator_registry_interface(name):
    est = M.get_estimator(name)
    assert est.name == name and est.needs in ("reference", "target", "density") and est.summary
    assert set(est.metrics) <= set(M.available_metrics())
    dim = 1 if name == "semi-discrete-1d" else 2
    target = GaussianTarget(torch.zeros(dim), 1.0)
    gen = diag(np.full(dim, 0.5), np.full(dim, 1.3))
    x = gen.sample(600, torch.Generator().manual_seed(1))
    lq = None
    if est.needs == "density":
        lq = torch.distributions.Normal(0.5, math.sqrt(1.3)).log_prob(x).sum(-1)
    for metric in est.metrics:
        rec = estimate(metric, x, target, seed=2, estimator=name, samples_log_prob=lq, floor_replicates=2)
        assert isinstance(rec, MetricRecord) and rec.metric == metric
        assert rec.estimator.startswith(name) and rec.n == 600 and rec.dim == dim
        assert math.isfinite(rec.value) and rec.value >= 0.0 or metric.startswith("kl")
        assert rec.kind in ("value", "lower_bound", "upper_bound")
        assert math.isfinite(rec.floor) and rec.runtime_s >= 0
        if metric in ("tv", "hellinger"):
            assert 0.0 <= rec.value <= 1.0
        row = rec.as_dict()
        assert set(row) >= {
            "metric",
            "value",
            "stderr",
            "ci_low",
            "ci_high",
            "floor",
            "n",
            "estimator",
            "exact",
            "runtime_s",
            "note",
            "kind",
            "meaningful",
        }


def test_unknown_names_list_valid_ones():
    with pytest.raises(SgmbenchError, match="valid: .*w2"):
        M.get_metric("w3")
    with pytest.raises(SgmbenchError, match="valid: .*ot-exact"):
        M.get_estimator("emd")
    with pytest.raises(SgmbenchError, match="does not measure"):
        estimate(
            "kl",
            np.zeros((10, 1)) + np.arange(10)[:, None],
            GaussianTarget(torch.zeros(1), 1.0),
            estimator="histogram",
        )
    assert M.get_estimator("knn:k=4").spec == "knn:k=4"


# ------------------------------------------------------------------------------------------------
# Exact laws
# ------------------------------------------------------------------------------------------------
def test_between_laws_same_basis_and_full_paths_agree():
    rng = np.random.default_rng(0)
    d = 5
    U = torch.linalg.qr(torch.randn(d, d, dtype=F64, generator=torch.Generator().manual_seed(0)))[0]
    p = diag(rng.normal(size=d) * 0.2, rng.uniform(0.5, 2, d), U)
    q = diag(rng.normal(size=d) * 0.2, rng.uniform(0.5, 2, d), U)
    q_full = (q.full_mean().numpy(), q.full_cov().numpy())  # forces the O(d^3) path
    for metric in ("w2", "w2_sq", "kl", "kl_reverse", "tv", "hellinger"):
        a = measure_between_laws(metric, p, q)
        b = measure_between_laws(metric, p, q_full)
        assert a.exact and b.exact and a.stderr == 0.0 and a.floor == 0.0
        assert a.value == pytest.approx(b.value, rel=1e-8, abs=1e-12), metric
        assert a.ci_low <= a.value <= a.ci_high


def test_between_laws_directions_symmetry_and_zero():
    p = diag([0.0, 0.0], [1.0, 2.0])
    q = diag([0.3, -0.1], [1.4, 1.5])
    assert measure_between_laws("kl", p, q).value == pytest.approx(
        M.kl_diag([0, 0], [1, 2], [0.3, -0.1], [1.4, 1.5])
    )
    assert measure_between_laws("kl_reverse", p, q).value == pytest.approx(
        M.kl_diag([0.3, -0.1], [1.4, 1.5], [0, 0], [1, 2])
    )
    for metric in ("w2", "tv", "hellinger"):
        assert measure_between_laws(metric, p, q).value == pytest.approx(
            measure_between_laws(metric, q, p).value, rel=1e-12, abs=1e-14
        )
    for metric in ("w2", "w2_sq", "kl", "kl_reverse", "tv", "hellinger"):
        assert measure_between_laws(metric, q, q).value == 0.0


def test_between_laws_accepts_targets_and_noised_laws():
    from sgmbench.processes import forward_processes

    target = GaussianTarget(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5]))
    proc = forward_processes.create("vp-constant") if "vp-constant" in forward_processes else None
    if proc is None:
        pytest.skip("no vp-constant process registered")
    pt = target.noised(proc, 0.1)
    rec = measure_between_laws("tv", target, pt)
    assert rec.exact and 0.0 < rec.value < 1.0
    h = measure_between_laws("hellinger", target, pt).value
    assert h**2 <= rec.value <= h * math.sqrt(2 - h * h)  # Le Cam


def test_between_laws_bad_input():
    with pytest.raises(SgmbenchError, match="shape mismatch"):
        measure_between_laws("w2", diag([0.0], [1.0]), diag([0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(SgmbenchError, match="positive definite"):
        measure_between_laws("kl", diag([0.0, 0.0], [1.0, -1.0]), diag([0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(SgmbenchError, match="not symmetric"):
        measure_between_laws(
            "tv", (np.zeros(2), np.array([[1.0, 0.3], [0.0, 1.0]])), diag([0.0, 0.0], [1.0, 1.0])
        )


# ------------------------------------------------------------------------------------------------
# Samples: defaults, floors, verdicts
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "metric,dim,expected",
    [
        ("w2", 1, "semi-discrete-1d"),
        ("w2", 2, "ot-exact"),
        ("w2", 8, "bures-fit"),
        ("kl", 3, "knn"),
        ("kl_reverse", 3, "knn-known-density"),
        ("tv", 2, "histogram"),
        ("tv", 5, "classifier"),
        ("sliced_w2", 7, "sliced"),
    ],
)
def test_default_estimators(metric, dim, expected):
    assert M.default_estimator(metric, dim, GaussianTarget(torch.zeros(dim), 1.0)) == expected
    assert M.default_estimator("tv", dim, GaussianTarget(torch.zeros(dim), 1.0), True) == "mc-known-density"


def test_estimate_at_the_floor_for_the_law_itself():
    """Samples of the target itself: every default estimator reports a value at its floor (not meaningful)."""
    target = GaussianTarget(torch.zeros(2), torch.tensor([1.0, 0.5]))
    x = target.sample(800, generator=torch.Generator().manual_seed(7))
    for metric in ("w2", "kl", "kl_reverse", "tv", "sliced_w2"):
        rec = estimate(metric, x, target, seed=3, floor_replicates=3)
        assert not rec.meaningful, (metric, rec)
        assert "noise floor" in rec.note
        spread = 4 * max(rec.stderr, rec.floor_stderr * math.sqrt(3))
        assert abs(rec.value - rec.floor) <= spread + 0.5 * abs(rec.floor), (metric, rec)


def test_estimate_resolves_a_clear_signal():
    target = GaussianTarget(torch.zeros(2), 1.0)
    gen = diag([1.0, 0.0], [1.0, 1.0])
    x = gen.sample(1000, torch.Generator().manual_seed(8))
    rec = estimate("w2", x, target, seed=1)
    assert rec.meaningful and rec.floor > 0
    assert abs(rec.value**2 - 1.0) <= rec.floor**2 + 4 * 2 * rec.value * rec.stderr


def test_ot_in_d10_flagged_unless_floor_resolves():
    target = GaussianTarget(torch.zeros(10), 1.0)
    small = diag(np.full(10, 0.1), np.ones(10)).sample(300, torch.Generator().manual_seed(9))
    rec = estimate("w2", small, target, estimator="ot-exact", floor_replicates=2)
    assert not rec.meaningful and "d = 10" in rec.note
    big = diag(np.full(10, 3.0), np.ones(10)).sample(300, torch.Generator().manual_seed(9))
    rec = estimate("w2", big, target, estimator="ot-exact", floor_replicates=2)
    assert rec.meaningful and "floor shows the value is resolvable" in rec.note


def test_floor_cache_memory_and_disk(tmp_path):
    target = GaussianTarget(torch.zeros(2), 1.0)
    a = noise_floor("tv", target, 500, "histogram", replicates=2, cache_dir=tmp_path)
    b = noise_floor("tv", target, 500, "histogram", replicates=2, cache_dir=tmp_path)
    assert a is b and len(a.values) == 2 and a.key
    files = list(tmp_path.glob("floor-*.json"))
    assert len(files) == 1
    M.clear_floor_cache()
    c = noise_floor("tv", target, 500, "histogram", replicates=2, cache_dir=tmp_path)  # from disk
    assert c == a
    d = noise_floor("tv", target, 600, "histogram", replicates=2, cache_dir=tmp_path)  # new n: new entry
    assert d.key != a.key
    # an unkeyable law is measured each time
    mix = Mixture1D([1.0], [0.0], [1.0])
    del mix.cache_key
    e = noise_floor("tv", mix, 300, "histogram", replicates=2)
    assert e.key is None


def test_estimate_with_known_generated_density():
    target = GaussianTarget(torch.zeros(2), 1.0)
    gen = diag([0.3, 0.0], [1.2, 1.0])
    x = gen.sample(20000, torch.Generator().manual_seed(10))
    lq = torch.distributions.Normal(gen.mean, gen.var.sqrt()).log_prob(x).sum(-1)
    for metric in ("tv", "kl_reverse", "hellinger"):
        rec = estimate(metric, x, target, samples_log_prob=lq)
        assert rec.estimator.startswith("mc-known-density") and rec.floor == 0.0
        truth = measure_between_laws(metric, target, gen).value
        assert abs(rec.value - truth) <= 4 * rec.stderr, metric


def test_estimate_reference_and_n():
    target = GaussianTarget(torch.zeros(1), 1.0)
    x = np.random.default_rng(0).normal(size=(500, 1)) + 0.5
    ref = np.random.default_rng(1).normal(size=(500, 1))
    a = estimate("w2", x, target, n=300, estimator="ot-exact", reference=ref, floor=False)
    b = M.w2_exact(x[:300], ref[:300])
    assert a.value == b.value and a.n == 300 and math.isnan(a.floor)


def test_estimate_bad_input_one_line():
    target = GaussianTarget(torch.zeros(2), 1.0)
    x = np.random.default_rng(0).normal(size=(100, 2))
    cases = [
        lambda: estimate("w2", x[:, :1], target),  # shape mismatch
        lambda: estimate("w2", x[:1], target),  # n < 2
        lambda: estimate("w2", x, target, n=1),
        lambda: estimate("w2", x, target, n=1000),
        lambda: estimate("w3", x, target),
        lambda: estimate("tv", x, target, samples_log_prob=np.zeros(5)),
        lambda: estimate("hellinger", x, target),
        lambda: estimate("w2", x, target, reference=x[:10], estimator="ot-exact"),
    ]
    for case in cases:
        with pytest.raises(SgmbenchError) as err:
            case()
        assert "\n" not in str(err.value)
