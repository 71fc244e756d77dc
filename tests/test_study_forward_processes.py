"""The forward-processes study: grid, horizon rule, bisection for K, cell function, extra report."""

import math

import numpy as np
import pytest

from benchmarks import _fp_helpers as H
from sgmbench.errors import SgmbenchError
from sgmbench.study import get_study, load_cell_fn

TARGET8 = H.gaussian_spec(8, 1.0, 0.5)


def test_expands_for_both_profiles():
    study = get_study("forward-processes")
    quick, full = study.cells("quick"), study.cells("full")
    assert 100 < len(quick) < len(full)
    for cells in (quick, full):
        tasks = {c.extra("task") for c in cells}
        assert tasks == {"complexity", "steps", "score", "horizon", "mixture"}
        assert {c.setting.process for c in cells if c.extra("task") == "complexity"} == set(H.ALL_PROCESSES)
        assert all(c.cell_fn == "benchmarks._fp_helpers:fp_cell" for c in cells)
        # explicit horizons where the cell is measured directly (complexity cells choose T themselves)
        assert all(c.setting.horizon is not None for c in cells if c.extra("task") != "complexity")
    dims = {
        int(c.setting.target.split("dim=")[1].split(",")[0]) for c in full if c.extra("task") == "complexity"
    }
    assert min(dims) == 2 and max(dims) == 1024
    assert load_cell_fn(quick[0].cell_fn) is H.fp_cell


def test_horizon_rule_sets_the_init_term():
    # GNZ's init term alpha_T^2/(alpha_T^2 + m0 sigma_T^2) |x0|_L2 equals eps/2 at the chosen T
    x0, m0 = H.target_constants(TARGET8)
    assert x0 == pytest.approx(math.sqrt(8 * 1.5)) and m0 == pytest.approx(2.0)
    for proc in ("vp-linear", "ve-exp", "vp-cosine", "edm", "subvp"):
        T = H.rule_horizon(proc, TARGET8, 0.1)
        assert H.init_factor(proc, T, m0) * x0 == pytest.approx(0.05, rel=1e-8)
    # VP: int beta ~ log(|x0| / (m0 eps/2)); VE: sigma_T^2 ~ |x0| / (m0 eps/2)
    T = H.rule_horizon("vp-constant", TARGET8, 0.1)
    r = 0.05 / x0
    assert 5.05 * T == pytest.approx(math.log1p((1 - r) / (m0 * r)), rel=1e-9)
    T = H.rule_horizon("edm", TARGET8, 0.1)
    assert T**2 == pytest.approx((1 - r) / (m0 * r), rel=1e-9)
    with pytest.raises(SgmbenchError):
        H.rule_horizon("vp-linear", TARGET8, 1e3)


def test_bisection_on_a_known_function():
    res = H.smallest_steps(lambda k: 1.0 / k, 1.0 / 77.5)
    assert res["K"] == 78 and not res["censored"]
    res = H.smallest_steps(lambda k: 1.0 / k, 1e-9, k_max=1000)
    assert res["censored"] and res["K"] is None
    res = H.smallest_steps(lambda k: 1.0 / k, 1e-4, rel_tol=0.01)
    assert res["K_low"] <= 10000 <= res["K"] <= 1.01 * 10000


def test_bisection_matches_a_brute_force_scan_of_the_exact_w2():
    proc, smp, tol = "vp-linear", "exponential-integrator", 0.15
    T = H.rule_horizon(proc, TARGET8, tol)
    w2 = np.array([H.isotropic_w2(proc, T, k, smp, 8, 1.0, 0.5) for k in range(1, 81)])
    assert np.all(np.diff(w2[2:]) < 0)  # monotone on the scanned range (beyond the first steps)
    expected = int(np.argmax(w2 <= tol)) + 1
    assert 3 < expected < 80
    res = H.steps_needed(proc, smp, TARGET8, tol)
    assert res["K"] == expected and res["K_low"] == expected and res["monotone"]
    assert res["horizon"] == pytest.approx(T)


def test_isotropic_reduction_equals_the_d_dimensional_exact_law():
    from sgmbench.measure import measure
    from sgmbench.setting import Setting

    for proc, smp in (("ve-exp", "euler-maruyama"), ("vp-cosine", "exponential-integrator")):
        T = H.rule_horizon(proc, TARGET8, 0.2)
        direct = measure(Setting(target=TARGET8, process=proc, horizon=T, steps=37, sampler=smp), ["w2"])
        reduced = H.isotropic_w2(proc, T, 37, smp, 8, 1.0, 0.5)
        assert reduced == pytest.approx(direct["metrics"]["w2"]["value"], rel=1e-10)


def test_steps_needed_depends_on_sqrt_d_over_eps_only():
    a = H.steps_needed(
        "ve-power", "exponential-integrator", H.gaussian_spec(8, 1.0, 0.5), 0.2, check_monotone=False
    )
    b = H.steps_needed(
        "ve-power", "exponential-integrator", H.gaussian_spec(32, 1.0, 0.5), 0.4, check_monotone=False
    )
    assert a["K"] == b["K"] and a["horizon"] == pytest.approx(b["horizon"])


def _one_per_task(cells):
    out = {}
    for c in cells:
        out.setdefault(c.extra("task"), c)
    return out


def test_cell_function_gives_finite_values_for_every_task(tmp_path):
    import dataclasses

    from sgmbench.runner import execute_cell
    from sgmbench.store import Store

    cells = _one_per_task(get_study("forward-processes").cells("quick"))
    store = Store(tmp_path / "fp.sqlite")
    series = {"steps": "w2", "score": "w2_score", "horizon": "w2_horizon"}  # the bounds are relabelled alike
    expected = {
        "complexity": {"steps_needed", "horizon_T", "w2_at_K", "init_w2"},
        "steps": {"w2"},
        "score": {"w2_score"},
        "horizon": {"w2_horizon", "init_w2_ct"},
        "mixture": {"w2_mixture"},
    }
    for task, cell in cells.items():
        if task == "mixture":  # keep the sample-based cell small
            cell = dataclasses.replace(cell, setting=cell.setting.replace(samples=300))
        result = execute_cell(cell)
        assert result.ok, result.message
        metrics = result.outcome["metrics"]
        assert set(metrics) == expected[task]
        assert all(math.isfinite(float(r["value"])) and float(r["value"]) >= 0 for r in metrics.values())
        if task in ("steps", "score", "horizon"):
            gnz = [b for b in result.outcome["bounds"] if b["bound"] == "gnz2025-w2"][0]
            assert gnz["applicable"] and gnz["holds"] and gnz["metric"] == series[task]
            assert gnz.get("bound_metric", gnz["metric"]) == "w2"
        store.put(result)
    files = H.fp_report_extras(store, "forward-processes", tmp_path / "results")
    names = {p.name for p in files}
    assert {"ranking.md", "complexity_exponents.csv", "gnz_tightness.md"} <= names
