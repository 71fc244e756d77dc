"""Every registry entry carries its theory facts as data, and bounds_table is JSON for the CLI."""

from __future__ import annotations

import json

import pytest

from sgmbench.bounds import (
    PROVENANCES,
    BoundContext,
    available_bounds,
    bounds,
    bounds_table,
    complexity_statements,
    evaluate_bounds,
    get_bound,
)
from sgmbench.bounds.base import METRICS, REFERENCES
from sgmbench.errors import SgmbenchError
from sgmbench.setting import Setting

NAMES = available_bounds()


def test_registry_lists_every_paper():
    prefixes = {
        "chen2023",
        "benton2024",
        "gnz2025",
        "kfl2022",
        "llt2023",
        "conforti2025",
        "strasman2025",
        "lcl2024",
        "early-stop",
    }
    assert {n.split("-")[0] if not n.startswith("early-stop") else "early-stop" for n in NAMES} == prefixes


@pytest.mark.parametrize("name", NAMES)
def test_entry_metadata(name):
    b = get_bound(name)
    assert b.name == name
    assert b.metric in METRICS and b.reference in REFERENCES
    assert b.provenance in PROVENANCES
    assert b.source.arxiv and b.source.where and b.source.year
    assert b.exponents, "predicted exponents are data"
    for e in b.exponents:
        assert e.provenance in PROVENANCES
    assert b.assumptions
    assert b.compute.__doc__, "every formula documents its math and source"
    json.dumps(b.describe(), allow_nan=False)


def test_constant_parameter_scales_only_unspecified_terms():
    s = Setting(
        target="gaussian:dim=2,mean=1,var=0.5",
        process="ou",
        horizon=6.0,
        steps=50,
        score="perturbed:kind=bias,size=0.1",
    )
    ctx = BoundContext.from_setting(s)
    one = get_bound("chen2023-thm2").evaluate(ctx)
    two = bounds.create("chen2023-thm2:constant=2").evaluate(ctx)
    scaled = sum(t.value for t in one.terms if t.scaled)
    unscaled = sum(t.value for t in one.terms if not t.scaled)
    assert two.value == pytest.approx(2 * scaled + unscaled)
    assert one.constant_unspecified and one.as_dict()["constant"] == 1.0
    with pytest.raises(SgmbenchError):
        bounds.create("chen2023-thm2:constant=-1")
    with pytest.raises(SgmbenchError, match="valid"):
        get_bound("no-such-bound")


def test_h_and_N_exponents_convert():
    b = get_bound("chen2023-thm2")
    assert b.exponent("h").value == 0.5
    assert b.exponent("steps").value == -0.5
    assert get_bound("benton2024-thm1").exponent("h").value == 1.0


def test_bounds_table_rows():
    s = Setting(
        target="gaussian:dim=3,mean=1,var=0.5",
        process="ou",
        horizon=6.0,
        steps=64,
        early_stop=1e-3,
        grid="geometric",
        reference="early-stopped",
        score="perturbed:kind=bias,size=0.05",
    )
    measured = {"kl": {"value": 0.01, "exact": True}, "w2": 0.05, "tv@early-stopped": 0.02}
    rows = bounds_table(s, measured)
    json.dumps(rows, allow_nan=False)
    by = {r["bound"]: r for r in rows}
    assert set(by) == set(NAMES)
    ben = by["benton2024-thm1"]
    assert ben["applicable"] and ben["measured"] == 0.01 and ben["holds"] is True
    assert ben["ratio"] == pytest.approx(ben["value"] / 0.01)
    assert set(ben["terms"]) == {"initialisation", "score", "discretisation"}
    assert ben["constant_unspecified"] is True
    # a data-referenced metric is not matched with a value measured against p_delta
    assert by["chen2023-thm2"]["measured"] is None and by["chen2023-thm2"]["failed"]
    # the early-stopping bias is computed exactly for a Gaussian target
    es = by["early-stop-w2"]
    assert es["measured_key"].startswith("w2_early_stop") and es["holds"] is True
    # inapplicable rows say why
    assert all(r["failed"] for r in rows if not r["applicable"])


def test_evaluate_bounds_accepts_a_setting_and_names():
    s = Setting(target="gaussian:dim=2,mean=0,var=1", process="ou", horizon=5.0, steps=40)
    res = evaluate_bounds(s, ["gnz2025-w2", "chen2023-thm2"])
    assert [r.bound for r in res] == ["gnz2025-w2", "chen2023-thm2"]
    assert all(r.applicable for r in res)


def test_complexity_statements_are_data():
    rows = complexity_statements()
    json.dumps(rows, allow_nan=False)
    gnz_vp = next(r for r in rows if r.get("process") == "vp-linear")
    assert gnz_vp["K"]["d"] == 1.0 and gnz_vp["K"]["eps"] == -2.0
    llt21 = next(r for r in rows if r["name"] == "llt2023-thm2.1")
    assert llt21["N"]["provenance"] == "derived" and llt21["eps_sigma"]["provenance"] == "verified"
