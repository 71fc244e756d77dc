"""Slope fits recover known exponents within their CI, cover at the nominal rate, and window correctly;
verdicts classify holds / tight / loose / violated."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sgmbench.analysis import (
    fit_rates,
    fit_slope,
    local_slopes,
    rate_verdict,
    select_window,
    verdict,
    verdicts_table,
)

X = np.geomspace(10, 10_000, 10)
SEEDS = 200


def _coverage_interval(n: int, p: float = 0.95, z: float = 3.3) -> tuple[float, float]:
    """Binomial tolerance band for the empirical coverage of n independent 95% intervals (about 3.3 sigma)."""
    sd = math.sqrt(p * (1 - p) / n)
    return p - z * sd, p + z * sd


def test_recovers_exponent_within_ci():
    rng = np.random.default_rng(1)
    Y = 3.0 * X**-0.7 * np.exp(rng.normal(0, 0.05, (10, X.size)))
    fit = fit_slope(X, Y, asymptotic="high")
    assert fit.method == "per-replicate" and fit.replicates == 10
    assert fit.covers(-0.7)
    assert fit.ci_high - fit.ci_low < 0.05
    assert fit.intercept == pytest.approx(math.log(3.0), abs=0.1)
    json.dumps(fit.as_dict(), allow_nan=False)


@pytest.mark.parametrize("method", ["per-replicate", "ols", "wls"])
def test_ci_covers_truth_at_nominal_rate(method):
    hits = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        Y = 2.0 * X**-1.5 * np.exp(rng.normal(0, 0.1, (6, X.size)))
        if method == "ols":
            fit = fit_slope(X, Y[0], asymptotic="high")
        else:
            fit = fit_slope(X, Y, asymptotic="high", method=method)
        hits += fit.covers(-1.5)
    lo, hi = _coverage_interval(SEEDS)
    assert lo <= hits / SEEDS <= hi, f"{method}: coverage {hits / SEEDS}"


def test_exact_values_give_exact_slope():
    fit = fit_slope(X, 0.3 * X**0.5)
    assert fit.slope == pytest.approx(0.5, abs=1e-12)
    assert fit.covers(0.5)


def test_noise_floor_points_are_dropped():
    floor = 1e-4
    x = np.geomspace(10, 1e5, 13)
    y = x**-1.0 + floor
    fit = fit_slope(x, y, noise_floor=floor, asymptotic="high")
    assert set(fit.dropped["noise_floor"]) == {float(v) for v in x if v**-1.0 + floor <= 3 * floor}
    assert -1.0 < fit.slope < -0.9  # the points kept (> 3x floor) still carry a little floor bias
    assert fit_slope(x, y, window=False).slope > fit.slope + 0.15  # unwindowed: the floor flattens the fit


def test_pre_asymptotic_points_are_dropped():
    x = np.geomspace(2, 4096, 12)
    y = x**-1.0 * (1 + 30 / x)  # local slope -> -1 only for x >> 30
    fit = fit_slope(x, y, asymptotic="high")
    assert fit.dropped["pre_asymptotic"][0] == 2.0 and max(fit.dropped["pre_asymptotic"]) < 200
    assert abs(fit.slope + 1.0) < 0.06
    assert abs(fit_slope(x, y, window=False).slope + 1.0) > 0.2
    ls = local_slopes(x, y)
    assert list(ls.columns) == ["x_lo", "x_hi", "x_mid", "local_slope"] and len(ls) == x.size - 1
    assert ls["local_slope"].iloc[-1] == pytest.approx(-1.0, abs=0.02)


def test_window_keeps_a_noisy_power_law_whole():
    rng = np.random.default_rng(3)
    y = X**-1.0 * np.exp(rng.normal(0, 0.2, X.size))
    mask, dropped, stable = select_window(X, y, asymptotic="high")
    assert stable and mask.sum() >= 8


def test_low_asymptotic_end():
    h = np.geomspace(1e-4, 1.0, 12)
    y = h * (1 + 20 * h)  # asymptotic as h -> 0
    fit = fit_slope(h, y, asymptotic="low")
    assert fit.dropped["pre_asymptotic"] and min(fit.dropped["pre_asymptotic"]) > 5e-3
    assert abs(fit.slope - 1.0) < 0.06


# ------------------------------------------------------------------------------------------------
def test_rate_verdicts():
    x = np.geomspace(16, 4096, 9)
    # measured ~ N^-1, bound ~ N^-1/2: holds, and loose by 1/2
    v = verdict(x, 0.5 / x, 2 / np.sqrt(x), variable="N", predicted=-0.5)
    assert v.holds_everywhere and v.rate == "loose" and v.rate_gap == pytest.approx(0.5, abs=1e-9)
    assert v.tightness_min == pytest.approx(4 * math.sqrt(16), rel=1e-9)
    # measured ~ N^-0.4 under a bound ~ N^-0.5: holds on these points but the rate is violated
    v = verdict(x, 0.1 * x**-0.4, 10 * x**-0.5, variable="N", predicted=-0.5)
    assert v.holds_everywhere and v.rate == "violated"
    # same rate: tight
    rng = np.random.default_rng(0)
    M = 0.3 * x**-0.5 * np.exp(rng.normal(0, 0.05, (8, x.size)))
    v = verdict(x, M, x**-0.5, variable="N", predicted=-0.5)
    assert v.rate == "tight" and v.worst_ratio < 1
    # h -> 0: measured ~ h, bound ~ h^1/2: loose
    h = 1 / x
    v = verdict(h, h, np.sqrt(h), variable="h", predicted=0.5)
    assert v.rate == "loose"
    # a measured point above the bound
    v = verdict(x, 1 / x, 0.5 / x, variable="N", predicted=-1)
    assert not v.holds_everywhere and v.n_violations == x.size and v.worst_ratio == pytest.approx(2.0)


def test_lower_bound_verdicts_are_rate_only_with_unspecified_constant():
    h = np.geomspace(1e-3, 1e-1, 7)
    v = verdict(h, 5 * h, h, variable="h", bound="gnz2025-gaussian-lower")
    assert v.direction == "lower" and v.holds_everywhere is None and v.rate == "tight"
    v = verdict(
        h, h**2, h, variable="h", bound="gnz2025-gaussian-lower"
    )  # faster than the lower bound allows
    assert v.rate == "violated"


def test_verdict_reads_prediction_from_the_bound():
    x = np.geomspace(16, 4096, 9)
    v = verdict(x, 0.01 / x, 1 / np.sqrt(x), variable="steps", bound="chen2023-thm2")
    assert v.predicted_exponent == -0.5 and v.constant_unspecified and "unspecified" in v.note
    assert v.metric == "tv" and v.provenance.startswith("verified")


def test_verdicts_table_from_long_frame():
    x = np.geomspace(16, 1024, 7)
    rows = []
    for r in range(5):
        noise = np.exp(np.random.default_rng(r).normal(0, 0.05, x.size))
        for xi, ni in zip(x, noise):
            rows.append(
                {
                    "bound": "benton2024-thm1",
                    "steps": xi,
                    "replicate": r,
                    "measured": 0.1 / xi**2 * ni,
                    "value": 10 / xi,
                    "target": "g",
                }
            )
            rows.append(
                {
                    "bound": "chen2023-thm2",
                    "steps": xi,
                    "replicate": r,
                    "measured": 0.1 / xi * ni,
                    "value": np.nan,
                    "target": "g",
                }
            )
    df = pd.DataFrame(rows)
    out = verdicts_table(df, x="steps", by=("bound", "target"), replicate="replicate")
    assert list(out["bound"]) == ["benton2024-thm1"]  # the inapplicable bound has no values
    row = out.iloc[0]
    assert row["holds_everywhere"] and row["rate"] == "loose" and row["predicted_exponent"] == -1.0
    assert row["measured_slope"] == pytest.approx(-2.0, abs=0.05)
    assert row["bound_slope"] == pytest.approx(-1.0, abs=1e-9)
    rates = fit_rates(df[df.bound == "chen2023-thm2"], x="steps", y="measured", replicate="replicate")
    assert rates.iloc[0]["slope"] == pytest.approx(-1.0, abs=0.05)


def test_t_quantile_is_used_for_small_replicate_counts():
    rng = np.random.default_rng(5)
    Y = X**-1.0 * np.exp(rng.normal(0, 0.1, (3, X.size)))
    fit = fit_slope(X, Y)
    assert fit.dof == 2
    half = (fit.ci_high - fit.ci_low) / 2
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * fit.stderr)
    assert rate_verdict(fit, -1.0, "high")[0] in ("tight", "loose", "violated")


def test_rate_verdict_equivalence_margin_for_exact_data():
    """Noise-free data with a slope 0.02 off the prediction is 'tight' (margin), 0.3 off is not."""
    from sgmbench.analysis import SlopeFit, rate_verdict

    def fit(slope):
        return SlopeFit(
            slope=slope,
            stderr=0.002,
            ci_low=slope - 0.005,
            ci_high=slope + 0.005,
            intercept=0.0,
            confidence=0.95,
            method="ols",
            dof=6,
            n_points=8,
            x_window=(8.0, 1024.0),
            used=(),
            dropped={},
            local_slopes=(),
        )

    near, far = fit(-1.02), fit(-1.3)
    assert rate_verdict(near, -1.0, "high", "lower")[0] == "tight"
    assert rate_verdict(far, -1.0, "high", "lower")[0] == "violated"
    assert rate_verdict(far, -1.0, "high", "upper")[0] == "loose"
