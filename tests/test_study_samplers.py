"""The samplers study: its grid, its cell function, and the orders/tightness tables of its extra report."""

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import _fp_helpers as H
from benchmarks import samplers as S
from sgmbench.samplers import available_samplers
from sgmbench.study import get_study


def test_expands_for_both_profiles():
    study = get_study("samplers")
    quick, full = study.cells("quick"), study.cells("full")
    assert 0 < len(quick) < len(full)
    for cells in (quick, full):
        assert {c.setting.sampler for c in cells} == set(S.SAMPLERS)
        assert all(c.setting.prior == "exact" for c in cells)
        stopped = [c for c in cells if c.setting.early_stop > 0]
        assert stopped and all(c.setting.grid == "benton" for c in stopped)
        assert "exponential-integrator" in {c.setting.sampler for c in stopped}
    assert "predictor-corrector" in {c.setting.sampler for c in full if c.setting.early_stop > 0}
    steps = sorted({c.setting.steps for c in full})
    assert steps[0] <= 8 and steps[-1] >= 16384  # more than three decades
    assert set(S.SAMPLERS) <= set(available_samplers())


def test_cell_function_gives_finite_values_and_bounds_on_the_exponential_integrator():
    from sgmbench.runner import execute_cell

    cells = [
        c for c in get_study("samplers").cells("quick") if c.setting.steps == 64 and c.setting.process == "ou"
    ]
    for smp in ("exponential-integrator", "pf-heun"):
        cell = next(c for c in cells if c.setting.sampler == smp and c.setting.grid == "uniform")
        result = execute_cell(cell)
        assert result.ok, result.message
        vals = {m: r["value"] for m, r in result.outcome["metrics"].items()}
        assert set(vals) == {"w2", "kl", "tv"} and all(math.isfinite(v) and v > 0 for v in vals.values())
        if smp == "exponential-integrator":
            rows = {b["bound"]: b for b in result.outcome["bounds"]}
            assert rows["gnz2025-w2"]["applicable"] and rows["gnz2025-w2"]["holds"]
            assert rows["chen2023-thm2"]["applicable"] and rows["chen2023-thm2"]["holds"]
        else:
            assert "bounds" not in result.outcome


def _frame(sampler, order, steps=(64, 128, 256, 512, 1024), process="vp-linear"):
    rows = []
    for n in steps:
        for m, p in (("w2", 1), ("tv", 1), ("kl", 2)):
            rows.append(
                {
                    "process": process,
                    "sampler": sampler,
                    "grid": "uniform",
                    "steps": n,
                    "metric": m,
                    "value": 3.0 * n ** (-p * order),
                }
            )
    return rows


def test_orders_table_on_known_power_laws():
    df = pd.DataFrame(
        _frame("pf-heun", 2.0) + _frame("euler-maruyama", 1.0) + _frame("predictor-corrector", 0.0)
    )
    t = H.sampler_orders(df).set_index("sampler")
    assert t.loc["pf-heun", "order from kl"] == pytest.approx(2.0)
    assert t.loc["euler-maruyama", "order from w2"] == pytest.approx(1.0)
    assert t.loc["euler-maruyama", "verdict (w2)"] == "matches"
    assert t.loc["predictor-corrector", "verdict (w2)"] == "stalls (biased limit)"
    assert H.order_verdict(1.6, 1.05, 1.0, True) == "matches at the largest N only"


def test_small_sweep_measures_declared_orders_and_loose_bounds(tmp_path):
    import dataclasses

    from sgmbench.runner import execute_cell
    from sgmbench.store import Store

    study = get_study("samplers")
    base = [
        c
        for c in study.cells("quick")
        if c.setting.process == "vp-linear"
        and c.setting.grid == "uniform"
        and c.setting.sampler in ("exponential-integrator", "pf-heun")
        and c.setting.steps == 64
    ]
    store = Store(tmp_path / "s.sqlite")
    for cell in base:
        for n in (64, 128, 256):
            store.put(execute_cell(dataclasses.replace(cell, setting=cell.setting.replace(steps=n))))
    files = H.samplers_report_extras(store, "samplers", tmp_path / "results")
    assert {"orders.md", "tightness.md", "local_orders_w2.png"} <= {p.name for p in files}
    orders = pd.read_csv(tmp_path / "results" / "samplers" / "orders.csv").set_index("sampler")
    assert orders.loc["pf-heun", "order from w2"] == pytest.approx(2.0, abs=0.1)
    assert orders.loc["exponential-integrator", "order from w2"] == pytest.approx(1.0, abs=0.1)
    tight = pd.read_csv(tmp_path / "results" / "samplers" / "tightness.csv").set_index("bound")
    gnz = tight.loc["gnz2025-w2"]
    assert gnz["holds everywhere"] and gnz["gap (ratio ~ N^gap)"] > 0.1  # loose in the step size
    assert np.isfinite(gnz["ratio at largest N"]) and gnz["ratio at largest N"] > 10
