"""The kwon-fan-lee study: its cells, KFL's DDPM process, the Cor. 1 constants and tiny runs of its cells."""

import math

import numpy as np
import pytest
import torch

from benchmarks import _kfl_helpers as H
from benchmarks import kwon_fan_lee as K
from sgmbench.processes import get_process
from sgmbench.study import Cell, get_study


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_expands_for_both_profiles():
    s = get_study("kwon-fan-lee")
    for profile in ("quick", "full"):
        cells = s.cells(profile)
        exps = {c.extra("experiment") for c in cells}
        assert exps == {"training-run", "horizon"}
        runs = [c for c in cells if c.extra("experiment") == "training-run"]
        assert {c.setting.target for c in runs if c.extra("regulariser") == "none"} == set(K.TARGETS)
        assert {c.extra("regulariser") for c in runs} == {"none", "spectral", "clip"}
        assert all(c.setting.steps == 10 and c.setting.prior == "exact" for c in runs)
        hor = [c for c in cells if c.extra("experiment") == "horizon"]
        assert len(hor) >= 2 and all(c.setting.target == K.FIG4_TARGET for c in hor)
        assert all(c.cell_fn == "benchmarks.kwon_fan_lee:kfl_cell" for c in cells)
    assert len(s.cells("full")) > len(s.cells("quick"))


def test_ddpm_process_is_the_papers_discrete_ddpm():
    p = get_process(H.ddpm_process(10))
    b = H.sigmoid_betas(10)
    assert float(b[0]) == pytest.approx(1e-5 + (1e-2 - 1e-5) / (1 + math.exp(6)))
    ab = torch.cumprod(1 - b, 0)
    t = torch.arange(1, 11, dtype=torch.float64)
    torch.testing.assert_close(p.alpha(t) ** 2, ab, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(p.sigma2(t), 1 - ab, rtol=1e-12, atol=1e-15)
    from sgmbench.grids import make_grid
    from sgmbench.samplers import linear_step

    st = linear_step("ddpm-ancestral", p, make_grid("uniform", p, 10.0, 0.0, 10))
    # KFL's p_sample: x -> (x + beta s)/sqrt(1 - beta) + sqrt(beta) z, steps N..1
    torch.testing.assert_close(st.r, 1 / torch.sqrt(1 - b.flip(0)), rtol=1e-12, atol=0)
    torch.testing.assert_close(st.eta**2, b.flip(0), rtol=1e-12, atol=0)
    torch.testing.assert_close(st.gamma, b.flip(0) / torch.sqrt(1 - b.flip(0)), rtol=1e-12, atol=0)


def test_kfl_constants_match_quadrature():
    rates = H.sigmoid_betas(10).neg().log1p().neg()
    rng = np.random.default_rng(0)
    Ls = rng.normal(0, 30, 10)
    b = rng.uniform(0.1, 2, 10)
    k = H.kfl_constants(Ls, rates, b)
    # brute force on a fine grid of each unit interval
    R, int2, int1 = 0.0, 0.0, 0.0
    for i in range(10):
        u = np.linspace(0, 1, 200001)
        r = float(rates[i]) * (Ls[i] + 0.5)
        I = np.exp(R + r * u)
        int2 += float(rates[i]) * np.trapezoid(I**2, u)
        int1 += float(rates[i]) * np.sqrt(b[i]) * np.trapezoid(I, u)
        R += r
    assert k["log_I_T"] == pytest.approx(R, rel=1e-12)
    assert k["intercept"] == pytest.approx(0.5 * math.log(2 * int2), rel=1e-8)
    assert math.exp(k["log_thm1_score"]) == pytest.approx(int1, rel=1e-8)
    # L_s = -1/2 cancels L_f: I = 1 and the intercept is 1/2 log(2 sum beta)
    k0 = H.kfl_constants(np.full(10, -0.5), rates)
    assert k0["intercept"] == pytest.approx(0.5 * math.log(2 * float(rates.sum())), rel=1e-12)
    # huge L_s (gradient ascent) must not overflow
    assert math.isfinite(H.kfl_constants(np.full(10, 1e6), rates)["intercept"])


def test_verdicts_classify_points():
    pts = [
        {"w2": 0.1, "j_dsm": 1.0, "j_sm": 0.5, "intercept": 0.0, "w2_meaningful": True},  # below
        {"w2": 2.0, "j_dsm": 1.0, "j_sm": 0.5, "intercept": 0.0, "w2_meaningful": True},  # above, resolved
        {
            "w2": 0.9,
            "j_dsm": 1.0,
            "j_sm": 0.5,
            "intercept": 0.0,
            "w2_meaningful": False,
        },  # above J_SM line only
    ]
    v = K.verdicts(pts, final_intercept=0.0)
    assert v["points"] == 3 and v["resolved_points"] == 2
    assert v["frac_below_cor1_dsm"] == pytest.approx(2 / 3)
    assert v["violations_cor1_dsm"] == 1 and v["unresolved_cor1_dsm"] == 0
    assert v["violations_cor1_sm"] == 1 and v["unresolved_cor1_sm"] == 1
    assert v["min_margin_cor1_dsm"] == pytest.approx(-math.log(2.0))


def _tiny(experiment, **extras):
    s = get_study("kwon-fan-lee")
    base = next(
        c
        for c in s.cells("quick")
        if c.extra("experiment") == experiment
        and c.setting.target == "four-clusters"
        and c.extra("regulariser", "none") == "none"
    )
    ex = dict(base.extras)
    ex.update(extras)
    return Cell.make(base.setting.replace(samples=128), base.metrics, ex, 0, base.cell_fn, "kwon-fan-lee")


def _finite(outcome, keys):
    for k in keys:
        v = outcome["metrics"][k]["value"]
        assert v is not None and math.isfinite(float(v)), (k, v)


def test_tiny_training_run_gives_finite_values():
    cell = _tiny("training-run", ascent_steps=10, descent_steps=20, records=4, record_samples=64)
    out = K.kfl_cell(cell)
    _finite(
        out,
        [
            "w2",
            "sliced_w2",
            "j_dsm",
            "j_sm",
            "intercept",
            "cor1_bound",
            "thm1_bound",
            "w2_exact_score",
            "frac_below_cor1_dsm",
            "min_margin_cor1_dsm",
        ],
    )
    assert out["metrics"]["j_dsm"]["value"] >= out["metrics"]["j_sm"]["value"]  # Vincent: J_DSM = J_SM + C
    assert len(out["info"]["history"]) >= 3
    assert {b["bound"] for b in out["bounds"]} == {"kfl2022-cor1", "kfl2022-thm1"}


def test_tiny_horizon_point_gives_finite_values():
    cell = _tiny("horizon", horizon_descent_steps=20)
    out = K.kfl_cell(cell)
    _finite(out, ["w2", "offset", "log_I_T", "w2_pT_qT", "score_term", "cor1_total_T"])
    assert len(out["info"]["ls"]) == cell.setting.steps
