"""The tv-kl-rates study: its grid, its cell function on every engine, the quadrature engine against the
exact Gaussian recursion and against the sampler itself, and the mixture Lipschitz constant of Chen et al.'s
bound."""

import math

import numpy as np
import pytest
import torch

from benchmarks import _tvkl_helpers as H
from benchmarks import tv_kl_rates as S
from sgmbench.measure import generate_samples, measure, resolve
from sgmbench.setting import Setting
from sgmbench.study import Cell, get_study

SWEEPS = ("N sweep", "d sweep", "eps sweep", "T sweep", "D sweep")


def test_expands_for_both_profiles():
    study = get_study("tv-kl-rates")
    quick, full = study.cells("quick"), study.cells("full")
    assert 0 < len(quick) < len(full)
    for cells in (quick, full):
        assert all(c.cell_fn == S.CELL_FN and c.setting.process == "ou" for c in cells)
        engines = {c.extra("engine") for c in cells}
        assert {"exact", "quadrature"} <= engines
        # every cell belongs to exactly one plane (or is a sample-based cross-check)
        for c in cells:
            planes = [s for s in SWEEPS if c.extra(s) is not None and s != "D sweep"]
            assert len(planes) <= 1 or (planes == ["N sweep"] and c.extra("D sweep") is not None)
        # the two arms: uniform to delta = 0 against p_0, Benton grid to 1e-3 against p_delta
        arms = {(c.setting.grid, c.setting.early_stop, c.setting.reference) for c in cells}
        assert arms == set(S.ARMS)
        assert not any(c.extra("engine") == "samples" and c.setting.grid == "benton" for c in cells)
        # the D-rate groups by (grid, steps): every steps value of the study has mixture cells
        mix_steps = {c.setting.steps for c in cells if c.extra("D sweep") is not None}
        assert {c.setting.steps for c in cells} <= mix_steps
    assert any(c.extra("engine") == "samples" for c in full)
    for rate in study.rates:
        assert rate.x in SWEEPS and rate.predicted is not None and rate.bound


def _run(cell):
    from sgmbench.runner import execute_cell

    result = execute_cell(cell)
    assert result.ok, result.message
    return result.outcome


@pytest.mark.parametrize("engine", ["exact", "quadrature", "samples"])
def test_cell_function_gives_finite_values(engine):
    target = (
        "gaussian:dim=2,mean=1,var=0.5"
        if engine == "exact"
        else "mixture:dim=1,components=2,separation=2,var=1"
    )
    s = Setting(target=target, process="ou", horizon=4.0, steps=64, samples=800)
    cell = Cell.make(
        s, ("kl", "tv"), {"engine": engine}, 0, S.CELL_FN, "tv-kl-rates", get_study("tv-kl-rates").bounds
    )
    out = _run(cell)
    for m in ("kl", "tv"):
        v = out["metrics"][m]["value"]
        assert math.isfinite(v) and (v >= 0 or engine == "samples")
    if engine != "samples":
        rows = {b["bound"]: b for b in out["bounds"]}
        # T = 4, h = 1/16, L = 2 (Gaussian) or 1 (mixture, D = 2): Chen et al. Thm 2 applies and holds
        assert rows["chen2023-thm2"]["applicable"] and rows["chen2023-thm2"]["holds"]
        assert rows["conforti2025-kl"]["applicable"] and rows["conforti2025-kl"]["holds"]
        assert not rows["benton2024-thm1"]["applicable"]  # no early stopping
        assert out["metrics"]["tv"]["value"] < 0.1


@pytest.mark.parametrize(
    "target, grid, delta",
    [
        ("gaussian:dim=1,mean=1,var=0.5", "uniform", 0.0),
        ("gaussian:dim=1,mean=0,var=1e-4", "benton", 1e-3),
        ("gaussian:dim=2,mean=0,var=0.3", "uniform", 0.0),
        ("gaussian:dim=3,mean=0,var=1e-4", "benton", 1e-3),
    ],
)
def test_quadrature_engine_reproduces_the_exact_gaussian_law(target, grid, delta):
    """Line, Rice (d = 2) and chi_3 (d = 3) kernels against sgmbench.exact (closed-form KL/TV)."""
    s = Setting(
        target=target,
        process="ou",
        horizon=8.0,
        grid=grid,
        steps=32,
        early_stop=delta,
        reference="early-stopped" if delta else "data",
    )
    ex = measure(s, ("kl", "tv", "kl_reverse"))["metrics"]
    q = H.quadrature_measure(s)
    # d = 2 carries the Euler-Maclaurin end correction at rho = 0 (O(h^10) odd terms): 1e-6 relative
    tol = 1e-6 if "dim=2" in target else 1e-9
    for m in ("kl", "kl_reverse"):
        assert q["metrics"][m]["value"] == pytest.approx(ex[m]["value"], rel=tol)
    assert q["metrics"]["tv"]["value"] == pytest.approx(ex["tv"]["value"], rel=1e-5)
    assert q["info"]["mass_defect"] < 1e-7


def _quadrature_density(setting):
    chain, r = H.build_chain(setting)
    dens, _ = H.run_chain(chain)
    return dens


def test_quadrature_engine_agrees_with_the_sampler_on_a_mixture():
    """The 1-D mixture law by quadrature vs 40000 runs of the torch sampler: E Y, E tanh(2Y), E Y^2."""
    s = Setting(
        target="mixture:dim=1,components=2,separation=6,var=0.5,weights=0.3;0.7",
        process="ou",
        horizon=6.0,
        steps=12,
        samples=40000,
        seed=3,
    )
    dens = _quadrature_density(s)
    x, w, p = dens.x, dens.weights, dens.p
    y = generate_samples(resolve(s))[0][:, 0].numpy()
    for f in (lambda v: v, lambda v: np.tanh(2 * v), lambda v: v**2):  # smooth functionals (see general-data)
        exact = float((f(x) * p) @ w)
        se = float(np.std(f(y)) / math.sqrt(y.size))
        assert abs(np.mean(f(y)) - exact) < 4 * se


def test_mixture_lipschitz_is_the_closed_form_and_bounds_the_hessian():
    from sgmbench.processes import get_process
    from sgmbench.targets import get_target

    proc = get_process("ou")
    for D in (1.0, 2.0, 4.0, 8.0, 16.0):
        tgt = get_target(f"mixture:dim=1,components=2,separation={D},var=1")
        L, _ = H.mixture_lipschitz(tgt, proc)
        assert L == pytest.approx(max(1.0, D * D / 4 - 1), rel=1e-9)  # v_t = 1 for var = 1 under OU
        for t in (0.0, 0.05, 0.5):
            law = tgt.noised(proc, t)
            xs = torch.linspace(-D - 3, D + 3, 801, dtype=torch.float64)[:, None]
            hess = law.hessian_log_prob(xs).abs().max() if hasattr(law, "hessian_log_prob") else None
            if hess is not None:
                assert float(hess) <= L * (1 + 1e-9)
    # attained at the midpoint of two equal modes at t = 0 (tight)
    tgt = get_target("mixture:dim=1,components=2,separation=8,var=1")
    h0 = float(tgt.hessian_log_prob(torch.zeros(1, 1, dtype=torch.float64)).abs().max())
    assert h0 == pytest.approx(15.0, rel=1e-9)


def test_chen_bound_for_mixtures_grows_with_L_and_needs_h_L_le_1():
    from sgmbench.bounds import bounds_table

    bound = H.chen_thm2_for_mixtures()
    vals = {}
    for D in (2, 8):
        s = Setting(
            target=f"mixture:dim=1,components=2,separation={D},var=1", process="ou", horizon=8.0, steps=1024
        )
        row = bounds_table(s, {"tv": 1e-3}, names=[bound])[0]
        assert row["applicable"]
        vals[D] = row["value"]
    assert vals[8] > 10 * vals[2]  # L: 1 -> 15
    s = Setting(target="mixture:dim=1,components=2,separation=8,var=1", process="ou", horizon=8.0, steps=64)
    row = bounds_table(s, {"tv": 1e-3}, names=[bound])[0]
    assert not row["applicable"] and any("step size" in f for f in row["failed"])
