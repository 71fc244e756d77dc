"""The li-chen-li study: its cells, the memorisation metrics, the 1/n decay of the empirical score's error,
the total correlation and tiny runs of every part."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from benchmarks import _lcl_helpers as L
from benchmarks import li_chen_li as M
from sgmbench.processes import get_process
from sgmbench.study import Cell, get_study
from sgmbench.targets import get_target


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_expands_for_both_profiles():
    s = get_study("li-chen-li")
    for profile in ("quick", "full"):
        cells = s.cells(profile)
        parts = Counter(c.extra("part") for c in cells)
        assert set(parts) == set(M.PARTS)
        se = [c for c in cells if c.extra("part") == "score-error"]
        assert len({c.extra("num_train") for c in se}) >= 3 and len({c.replicate for c in se}) >= 3
        assert all(c.setting.target == M.DIGITS for c in cells if c.extra("part") == "digits")
        assert all(c.cell_fn == "benchmarks.li_chen_li:lcl_cell" for c in cells)
    assert len(s.cells("full")) > len(s.cells("quick"))


def test_nn_ratio_is_one_for_copies():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(200, 5, generator=g, dtype=torch.float64)
    copies = train[torch.randint(200, (500,), generator=g)]
    assert L.memorisation(copies, train)["memorised_fraction"] == 1.0
    # copies plus noise far below the nearest-neighbour spacing are still memorised
    near = copies + 1e-3 * torch.randn(copies.shape, generator=g, dtype=torch.float64)
    assert L.memorisation(near, train)["memorised_fraction"] == 1.0


@pytest.mark.parametrize("d", [2, 3])
def test_nn_ratio_of_fresh_samples_is_the_poisson_value(d):
    """For a locally uniform training set, d1/d2 of a fresh point is distributed as U^(1/d) (Poisson process),
    so the memorised fraction is P(d1/d2 < 1/3) = 3^-d (derived)."""
    g = torch.Generator().manual_seed(1 + d)
    train = torch.rand(4000, d, generator=g, dtype=torch.float64)
    fresh = 0.15 + 0.7 * torch.rand(6000, d, generator=g, dtype=torch.float64)  # away from the boundary
    m = L.memorisation(fresh, train)
    assert m["memorised_fraction"] == pytest.approx(3.0**-d, abs=4 * m["memorised_fraction_se"])


def test_empirical_score_error_decays_like_one_over_n():
    target, process = get_target(M.TARGET), get_process("ou")
    ns = [50, 200, 800]
    reps = 5
    Y = np.zeros((reps, len(ns)))
    for r in range(reps):
        for j, n in enumerate(ns):
            pts = target.sample(n, generator=torch.Generator().manual_seed(100 + r))
            Y[r, j] = L.empirical_score_error(
                pts, target, process, 1.0, 2000, torch.Generator().manual_seed(7)
            )[0]
    slopes = [np.polyfit(np.log(ns), np.log(y), 1)[0] for y in Y]
    mean, se = float(np.mean(slopes)), float(np.std(slopes, ddof=1) / math.sqrt(reps))
    assert abs(mean + 1.0) < 3 * se + 0.1, (mean, se)


def test_total_correlation_limits():
    small = L.total_correlation(50, 10, 1.0, 1e-3, train_sets=2, per_centre=5, seed=0)
    large = L.total_correlation(50, 10, 1.0, 1e3, train_sets=2, per_centre=5, seed=0)
    assert small["index"] == pytest.approx(math.log(50), rel=1e-6)
    assert large["index"] < 0.01 and abs(large["tc"]) < 1e-3
    asym = 0.5 * 10 * math.log((1 + 1e-6) / 1e-6) - math.log(50)
    assert small["tc"] == pytest.approx(asym, rel=0.02)  # not bounded by log n


_TINY = {
    "score-error": {"steps": 10},
    "kde-convergence": {"steps": 10, "samples": 200},
    "scatter": {"steps": 50, "samples": 200},
    "headline": {"steps": 20, "samples": 200},
    "total-correlation": {"tc_train_sets": 2},
    "digits": {"steps": 10, "samples": 20},
}


@pytest.mark.parametrize("part", M.PARTS)
def test_tiny_run_of_each_part_gives_finite_values(part):
    s = get_study("li-chen-li")
    base = next(c for c in s.cells("quick") if c.extra("part") == part)
    setting_fields = {k: v for k, v in _TINY[part].items() if k in ("steps", "samples")}
    extras = dict(base.extras)
    extras.update({k: v for k, v in _TINY[part].items() if k not in setting_fields})
    if part in ("score-error", "headline"):
        extras["num_train"] = 50
    cell = Cell.make(
        base.setting.replace(**setting_fields), base.metrics, extras, 0, base.cell_fn, "li-chen-li"
    )
    out = M.lcl_cell(cell)
    assert out["metrics"]
    for name, rec in out["metrics"].items():
        v = rec["value"]
        if name in ("tc_nats",) and extras.get("view") == "training-law":
            continue
        assert v is not None and math.isfinite(float(v)), (part, name, v)
    for b in out.get("bounds", []):
        assert b["applicable"], b
