r"""Rate fits and bound verdicts: log–log slopes with confidence intervals, windows, local slopes.

**Slopes** (``shared/papers/metrics-and-exact.md`` §5). The model is $\log y = a + p\log x$ for a metric $y$
against a swept variable $x$ (step count, step size, dimension, score error, $\delta$, $n$). :func:`fit_slope`
chooses by the data it is given:

- replicates ``y[r, j]`` (the same $x$ grid, e.g. common random numbers): one OLS slope per replicate on the
  window, reported as mean $\pm\ t_{R-1,\,0.975}\,s/\sqrt R$ (``per-replicate``; exact coverage for normal
  replicate slopes, and robust to the correlation that common random numbers induce); ``method="wls"`` instead
  fits the replicate means of $\log y$ by weighted least squares with weights $R/\widehat{\rm Var}(\log y_j)$;
- one series with standard errors ``y_err``: WLS with ${\rm Var}(\log y_j) \approx ({\rm se}_j/y_j)^2$ (delta
  method), the slope's standard error inflated by $\sqrt{\max(1, \chi^2_\nu/\nu)}$, $t_{n-2}$ interval;
- one series without errors (exact metrics): OLS with the $t_{n-2}$ interval of the residuals, which then
  measures how far the window is from a straight line.

**Window** (:func:`select_window`). (i) Points within ``floor_factor`` (3) of the noise floor are dropped:
keep $\bar y_j > 3(F_j + 2\,{\rm SE}_{F_j})$. (ii) Pre-asymptotic points are dropped: starting from the
asymptotic end (small $h$, $\varepsilon$, $\delta$; large $N$, $n$, $d$) the local slopes $s_j = \Delta\log
y/\Delta\log x$ are compared with the reference $\hat s$ (median of the first three); the window ends where
$|s_j - \hat s| \ge \max(0.15, 3\,{\rm se}(s_j))$ for two consecutive local slopes deviating the same way (a
single deviation is noise; a drift is not), or the last one deviates by twice that. ${\rm se}(s_j)$ comes from
the replicates, from ``y_err``, or (a single exact-or-noisy series) from the spread of the second differences
of $\log y$. Fewer than 3 points left: the window falls back to every point above the floor and the fit is
marked ``stable=False``.

**Verdicts** (:func:`verdict`, :func:`verdicts_table`), per bound and sweep: *holds* (measured ≤ bound at
every point, worst ratio measured/bound), *rate* against the predicted exponent $p$ (``tight``: the 95% CI of
the measured slope contains $p$; ``loose``: the measured error falls faster than the bound predicts, by $|\hat
s - p|$; ``violated``: it falls slower, so the bound must eventually fail), and the tightness bound/measured
(min, median, max). A bound whose universal constant is unspecified ($C = 1$) is judged by rate; its ``holds``
refers to $C = 1$ and the table says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sgmbench.errors import SgmbenchError

ASYMPTOTIC_END = {
    "h": "low",
    "step": "low",
    "max_step": "low",
    "eps": "low",
    "score.size": "low",
    "delta": "low",
    "early_stop": "low",
    "J": "low",
    "N": "high",
    "steps": "high",
    "num_steps": "high",
    "n": "high",
    "num_train": "high",
    "samples": "high",
    "d": "high",
    "dim": "high",
    "T": "high",
    "horizon": "high",
}
"""Which end of a variable's range is the asymptotic regime of the rates (``low``: $x \\to 0$)."""


# ------------------------------------------------------------------------------------------------
# Slope fits
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class SlopeFit:
    """A fitted log–log slope with its confidence interval, window and local slopes."""

    slope: float
    stderr: float
    ci_low: float
    ci_high: float
    intercept: float
    confidence: float
    method: str
    dof: float
    n_points: int
    x_window: tuple[float, float]
    used: tuple[float, ...]
    dropped: Mapping[str, tuple[float, ...]]
    local_slopes: tuple[tuple[float, float], ...]
    stable: bool = True
    replicates: int = 1

    def covers(self, value: float) -> bool:
        """True if ``value`` lies in the confidence interval."""
        return bool(self.ci_low <= value <= self.ci_high)

    def local_slopes_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.local_slopes, columns=["x_mid", "local_slope"])

    def as_dict(self) -> dict[str, Any]:
        d = {
            "slope": _f(self.slope),
            "stderr": _f(self.stderr),
            "ci_low": _f(self.ci_low),
            "ci_high": _f(self.ci_high),
            "intercept": _f(self.intercept),
            "confidence": self.confidence,
            "method": self.method,
            "dof": _f(self.dof),
            "n_points": self.n_points,
            "x_min": _f(self.x_window[0]),
            "x_max": _f(self.x_window[1]),
            "stable": self.stable,
            "replicates": self.replicates,
            "dropped": {k: [float(v) for v in vs] for k, vs in self.dropped.items()},
            "local_slopes": [[float(a), _f(b)] for a, b in self.local_slopes],
        }
        return d


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _as_2d(y) -> np.ndarray:
    a = np.asarray(y, dtype=float)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim != 2:
        raise SgmbenchError(
            f"y must be 1-D (one value per x) or 2-D (replicates x points), got shape {a.shape}"
        )
    return a


def _per_point(v, n: int, name: str) -> np.ndarray | None:
    if v is None:
        return None
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise SgmbenchError(f"{name} must be a scalar or have one value per x ({n}), got shape {a.shape}")
    return a


def local_slopes(x, y) -> pd.DataFrame:
    r"""Local slopes $\Delta\log y/\Delta\log x$ between consecutive points (sorted by $x$; ``y`` may be
    replicates, their log-mean is used)."""
    x = np.asarray(x, dtype=float)
    Y = _as_2d(y)
    order = np.argsort(x)
    lx = np.log(x[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.log(Y[:, order]).mean(0)
    s = np.diff(ly) / np.diff(lx)
    return pd.DataFrame(
        {
            "x_lo": x[order][:-1],
            "x_hi": x[order][1:],
            "x_mid": np.exp(0.5 * (lx[:-1] + lx[1:])),
            "local_slope": s,
        }
    )


def select_window(
    x,
    y,
    *,
    y_err=None,
    noise_floor=None,
    floor_stderr=None,
    floor_factor: float = 3.0,
    asymptotic: str | None = None,
    slope_tol: float = 0.15,
    min_points: int = 3,
) -> tuple[np.ndarray, dict[str, list[float]], bool]:
    """The fitting window: a boolean mask over ``x`` (input order), the dropped ``x`` per reason, and
    ``stable``.

    Reasons: ``non_positive`` (cannot take logs), ``noise_floor`` (mean $\\le$ ``floor_factor`` $(F + 2{\\rm
    SE}_F)$), ``pre_asymptotic`` (local slope off the asymptotic one). See the module docstring.
    """
    x = np.asarray(x, dtype=float)
    Y = _as_2d(y)
    n = x.size
    if Y.shape[1] != n:
        raise SgmbenchError(f"y has {Y.shape[1]} points per replicate but x has {n}")
    dropped: dict[str, list[float]] = {"non_positive": [], "noise_floor": [], "pre_asymptotic": []}
    keep = np.all(np.isfinite(Y) & (Y > 0), axis=0) & np.isfinite(x) & (x > 0)
    dropped["non_positive"] = [float(v) for v in x[~keep]]
    floor = _per_point(noise_floor, n, "noise_floor")
    if floor is not None:
        fse = _per_point(floor_stderr, n, "floor_stderr")
        fse = np.zeros(n) if fse is None else np.nan_to_num(fse)
        thresh = floor_factor * (np.nan_to_num(floor) + 2.0 * fse)
        low = keep & ~(Y.mean(0) > thresh)
        dropped["noise_floor"] = [float(v) for v in x[low]]
        keep &= ~low
    stable = True
    if asymptotic in ("low", "high") and keep.sum() >= min_points:
        idx = np.nonzero(keep)[0]
        idx = idx[np.argsort(x[idx])]
        if asymptotic == "high":
            idx = idx[::-1]
        lx = np.log(x[idx])
        LY = np.log(Y[:, idx])
        s = np.diff(LY.mean(0)) / np.diff(lx)
        se = _local_slope_se(LY, lx, Y[:, idx], _per_point(y_err, n, "y_err"), idx)
        ref = float(np.median(s[: min(3, s.size)]))
        dev = s - ref
        tol = np.maximum(slope_tol, 3.0 * se)
        off = np.abs(dev) >= tol
        last = len(idx) - 1
        for j in range(s.size):
            persistent = j + 1 < s.size and off[j] and off[j + 1] and np.sign(dev[j]) == np.sign(dev[j + 1])
            final = j + 1 == s.size and abs(dev[j]) >= 2 * tol[j]
            if persistent or final:
                last = j  # point j+1 (away from the asymptotic end) is the first pre-asymptotic one
                break
        if last + 1 >= min_points:
            pre = idx[last + 1 :]
            dropped["pre_asymptotic"] = sorted(float(v) for v in x[pre])
            keep[pre] = False
        else:
            stable = False
    if keep.sum() < 2:
        stable = False
    return keep, dropped, stable


def _local_slope_se(LY, lx, Y, y_err, idx) -> np.ndarray:
    """Standard error of each local slope: from the replicates, else from ``y_err``, else 0."""
    dx = np.abs(np.diff(lx))
    R = LY.shape[0]
    if R >= 2:
        d = np.diff(LY, axis=1)
        return d.std(0, ddof=1) / math.sqrt(R) / dx
    if y_err is not None:
        v = (y_err[idx] / Y[0]) ** 2
        return np.sqrt(v[:-1] + v[1:]) / dx
    return np.full(dx.size, math.sqrt(2.0) * _noise_from_second_differences(lx, LY[0])) / dx


def _noise_from_second_differences(lx: np.ndarray, ly: np.ndarray) -> float:
    r"""Noise s.d. of one series of $\log y$, from its second differences; robust to smooth curvature.

    With independent errors of s.d. $\sigma$ and equal spacing, $\Delta^2\log y$ has variance $6\sigma^2$; the
    divided differences are rescaled to the mean spacing $\bar h$ (exact for equal spacing), and the spread is
    the MAD about the median, so a smooth bend of the curve is not counted as noise. Noise-free curves give
    $\approx 0$.
    """
    if ly.size < 4:
        return 0.0
    h = np.diff(lx)
    d2 = np.diff(np.diff(ly) / h) * float(np.mean(h))
    mad = float(np.median(np.abs(d2 - np.median(d2)))) * 1.4826
    return mad / math.sqrt(6.0)


def _ols(lx: np.ndarray, ly: np.ndarray, w: np.ndarray | None = None):
    """(slope, intercept, slope variance from the design, weighted residual sum of squares)."""
    w = np.ones_like(lx) if w is None else w
    W = w.sum()
    xm = (w * lx).sum() / W
    ym = (w * ly).sum() / W
    sxx = (w * (lx - xm) ** 2).sum()
    slope = (w * (lx - xm) * (ly - ym)).sum() / sxx
    icpt = ym - slope * xm
    rss = (w * (ly - icpt - slope * lx) ** 2).sum()
    return slope, icpt, 1.0 / sxx, rss


def fit_slope(
    x,
    y,
    *,
    y_err=None,
    noise_floor=None,
    floor_stderr=None,
    asymptotic: str | None = None,
    window: bool = True,
    method: str = "auto",
    confidence: float = 0.95,
    slope_tol: float = 0.15,
    floor_factor: float = 3.0,
    min_points: int = 3,
) -> SlopeFit:
    """Fit $\\log y = a + p\\log x$ with a ``confidence`` interval for $p$ (see the module docstring).

    ``y``: ``[n]`` values or ``[R, n]`` replicates on the same ``x``; ``y_err``: standard errors of a single
    series; ``noise_floor``/``floor_stderr``: the metric's floor (scalar or per point); ``asymptotic``:
    ``low``/``high`` (which end is asymptotic; ``None`` skips the pre-asymptotic cut); ``method``: ``auto``,
    ``per-replicate``, ``wls`` or ``ols``.
    """
    x = np.asarray(x, dtype=float)
    Y = _as_2d(y)
    R, n = Y.shape
    if n != x.size:
        raise SgmbenchError(f"y has {n} points per replicate but x has {x.size}")
    err = _per_point(y_err, n, "y_err")
    if window:
        mask, dropped, stable = select_window(
            x,
            Y,
            y_err=err,
            noise_floor=noise_floor,
            floor_stderr=floor_stderr,
            floor_factor=floor_factor,
            asymptotic=asymptotic,
            slope_tol=slope_tol,
            min_points=min_points,
        )
    else:
        mask = np.all(np.isfinite(Y) & (Y > 0), axis=0) & (x > 0)
        dropped, stable = {"non_positive": [float(v) for v in x[~mask]]}, True
    ls = (
        local_slopes(x[mask], Y[:, mask])
        if mask.sum() >= 2
        else pd.DataFrame(columns=["x_mid", "local_slope"])
    )
    all_ls = local_slopes(x[np.all(Y > 0, axis=0)], Y[:, np.all(Y > 0, axis=0)]) if n >= 2 else ls
    local = tuple((float(a), float(b)) for a, b in zip(all_ls["x_mid"], all_ls["local_slope"]))
    xs = x[mask]
    m = int(mask.sum())
    if method == "auto":
        method = "per-replicate" if R >= 2 else ("wls" if err is not None else "ols")
    nan = float("nan")
    if m < 2:
        return SlopeFit(
            nan,
            nan,
            nan,
            nan,
            nan,
            confidence,
            method,
            nan,
            m,
            (nan, nan),
            tuple(xs),
            _freeze(dropped),
            local,
            False,
            R,
        )
    lx = np.log(xs)
    LY = np.log(Y[:, mask])
    q = 0.5 + confidence / 2
    if method == "per-replicate":
        if R < 2:
            raise SgmbenchError("method 'per-replicate' needs >= 2 replicates")
        fits = [_ols(lx, LY[r]) for r in range(R)]
        slopes = np.array([f[0] for f in fits])
        icpts = np.array([f[1] for f in fits])
        slope, icpt = float(slopes.mean()), float(icpts.mean())
        se = float(slopes.std(ddof=1) / math.sqrt(R))
        dof = R - 1
    elif method == "wls":
        if R >= 2:
            ly = LY.mean(0)
            var = LY.var(0, ddof=1) / R
        elif err is not None:
            ly = LY[0]
            var = (err[mask] / Y[0, mask]) ** 2
        else:
            raise SgmbenchError("method 'wls' needs replicates or y_err")
        var = np.where(var > 0, var, np.nan)
        if np.isnan(var).all():
            var = np.ones_like(ly)
        var = np.where(np.isnan(var), np.nanmin(var), var)
        slope, icpt, v_design, rss = _ols(lx, ly, 1.0 / var)
        dof = m - 2
        scale = max(1.0, rss / dof) if dof > 0 else 1.0
        se = math.sqrt(v_design * scale)
        dof = max(dof, 1)
    elif method == "ols":
        ly = LY.mean(0)
        slope, icpt, v_design, rss = _ols(lx, ly)
        dof = m - 2
        se = math.sqrt(v_design * rss / dof) if dof > 0 else nan
    else:
        raise SgmbenchError(f"unknown method {method!r}; valid: auto, per-replicate, wls, ols")
    half = float(stats.t.ppf(q, dof)) * se if dof > 0 and math.isfinite(se) else nan
    return SlopeFit(
        slope=float(slope),
        stderr=float(se),
        ci_low=float(slope - half),
        ci_high=float(slope + half),
        intercept=float(icpt),
        confidence=confidence,
        method=method,
        dof=float(dof),
        n_points=m,
        x_window=(float(xs.min()), float(xs.max())),
        used=tuple(float(v) for v in xs),
        dropped=_freeze(dropped),
        local_slopes=local,
        stable=stable,
        replicates=R,
    )


def _freeze(d: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    return {k: tuple(float(v) for v in vs) for k, vs in d.items() if len(vs)}


# ------------------------------------------------------------------------------------------------
# Verdicts
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Verdict:
    """The verdict on one bound over one sweep of settings (see the module docstring)."""

    bound: str
    variable: str
    metric: str
    direction: str
    n_settings: int
    holds_everywhere: bool | None
    n_violations: int
    worst_ratio: float | None
    predicted_exponent: float | None
    measured_fit: SlopeFit | None
    bound_fit: SlopeFit | None
    rate: str
    rate_gap: float | None
    tightness_min: float | None
    tightness_median: float | None
    tightness_max: float | None
    constant_unspecified: bool
    provenance: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        mf, bf = self.measured_fit, self.bound_fit
        return {
            "bound": self.bound,
            "variable": self.variable,
            "metric": self.metric,
            "direction": self.direction,
            "n_settings": self.n_settings,
            "holds_everywhere": self.holds_everywhere,
            "n_violations": self.n_violations,
            "worst_ratio": _f(self.worst_ratio),
            "predicted_exponent": _f(self.predicted_exponent),
            "measured_slope": _f(mf.slope) if mf else None,
            "measured_ci_low": _f(mf.ci_low) if mf else None,
            "measured_ci_high": _f(mf.ci_high) if mf else None,
            "measured_window": [_f(mf.x_window[0]), _f(mf.x_window[1])] if mf else None,
            "bound_slope": _f(bf.slope) if bf else None,
            "rate": self.rate,
            "rate_gap": _f(self.rate_gap),
            "tightness_min": _f(self.tightness_min),
            "tightness_median": _f(self.tightness_median),
            "tightness_max": _f(self.tightness_max),
            "constant_unspecified": self.constant_unspecified,
            "provenance": self.provenance,
            "note": self.note,
        }


RATE_TOLERANCE = 0.1
"""Equivalence margin on exponents: a fitted slope within this of the prediction is ``tight`` even when its CI
excludes it. Exact (noise-free) laws give CIs of width ~1e-2 that only measure the residual pre-asymptotic
curvature, so without a margin a slope of -1.02 against -1 would read ``violated``."""


def rate_verdict(
    fit: SlopeFit | None,
    predicted: float | None,
    asymptotic: str,
    direction: str = "upper",
    tol: float = RATE_TOLERANCE,
):
    """``(rate, gap)``: ``tight`` / ``loose`` / ``violated`` / ``undetermined`` and $|\\hat s - p|$ (see
    module docstring); ``tight`` if the CI covers $p$ or $|\\hat s - p| \\le$ ``tol``."""
    if fit is None or predicted is None or not math.isfinite(fit.slope):
        return "undetermined", None
    if not (math.isfinite(fit.ci_low) and math.isfinite(fit.ci_high)):
        return "undetermined", abs(fit.slope - predicted)
    gap = abs(fit.slope - predicted)
    if fit.covers(predicted) or gap <= tol:
        return "tight", gap
    faster = fit.ci_high < predicted if asymptotic == "high" else fit.ci_low > predicted
    # measured error falls faster toward the asymptotic end than the bound: the bound is loose
    if direction == "lower":
        return ("violated" if faster else "loose"), gap
    return ("loose" if faster else "violated"), gap


def verdict(
    x,
    measured,
    bound_values,
    *,
    variable: str,
    bound: Any = None,
    predicted: float | None = None,
    direction: str | None = None,
    asymptotic: str | None = None,
    measured_err=None,
    noise_floor=None,
    floor_stderr=None,
    metric: str = "",
    constant_unspecified: bool | None = None,
    provenance: str = "",
    **fit_options: Any,
) -> Verdict:
    """Verdict on one bound over a sweep of ``variable``: ``measured`` (``[n]`` or ``[R, n]``) vs
    ``bound_values`` (``[n]``).

    ``bound`` (a :class:`~sgmbench.bounds.base.Bound` or registry name) supplies the predicted exponent,
    direction, metric, provenance and ``constant_unspecified`` unless given explicitly.
    """
    b = None
    if bound is not None:
        from sgmbench.bounds import get_bound

        b = get_bound(bound) if not hasattr(bound, "exponent") else bound
    if b is not None:
        if predicted is None:
            e = b.exponent(variable)
            predicted = e.value if (e is not None and e.form == "power") else None
        direction = direction or b.direction
        metric = metric or b.metric
        provenance = provenance or b.provenance
        constant_unspecified = (
            b.constant_unspecified if constant_unspecified is None else constant_unspecified
        )
    direction = direction or "upper"
    constant_unspecified = bool(constant_unspecified)
    asym = asymptotic or ASYMPTOTIC_END.get(variable)
    if asym is None:
        raise SgmbenchError(f"which end of {variable!r} is asymptotic? pass asymptotic='low' or 'high'")
    x = np.asarray(x, dtype=float)
    M = _as_2d(measured)
    Bv = np.asarray(bound_values, dtype=float).reshape(-1)
    if Bv.size != x.size or M.shape[1] != x.size:
        raise SgmbenchError("x, measured and bound_values must have the same number of points")
    mbar = M.mean(0)
    ok = np.isfinite(mbar) & np.isfinite(Bv) & (Bv > 0)
    ratio = mbar[ok] / Bv[ok]
    notes = []
    if direction == "lower":
        worst = float(ratio.min()) if ratio.size else None
        nviol = int((ratio < 1).sum())
        holds = None if constant_unspecified else (nviol == 0 if ratio.size else None)
    else:
        worst = float(ratio.max()) if ratio.size else None
        nviol = int((ratio > 1).sum())
        holds = (nviol == 0) if ratio.size else None
    if constant_unspecified:
        notes.append("universal constant unspecified: values with C = 1, compare by rate")
    mfit = fit_slope(
        x,
        M,
        y_err=measured_err,
        noise_floor=noise_floor,
        floor_stderr=floor_stderr,
        asymptotic=asym,
        **fit_options,
    )
    bfit = fit_slope(x[ok], Bv[ok], asymptotic=asym, method="ols") if ok.sum() >= 2 else None
    if predicted is None and b is not None:
        notes.append(f"no power-law exponent for {variable!r}")
    rate, gap = rate_verdict(mfit, predicted, asym, direction)
    if not mfit.stable:
        notes.append("fit window unstable (few asymptotic points)")
    tight = (Bv[ok] / mbar[ok]) if ok.any() else np.array([])
    tight = tight[np.isfinite(tight) & (mbar[ok] > 0)]
    return Verdict(
        bound=getattr(b, "name", str(bound) if bound is not None else ""),
        variable=variable,
        metric=metric,
        direction=direction,
        n_settings=int(x.size),
        holds_everywhere=holds,
        n_violations=nviol,
        worst_ratio=worst,
        predicted_exponent=predicted,
        measured_fit=mfit,
        bound_fit=bfit,
        rate=rate,
        rate_gap=gap,
        tightness_min=float(tight.min()) if tight.size else None,
        tightness_median=float(np.median(tight)) if tight.size else None,
        tightness_max=float(tight.max()) if tight.size else None,
        constant_unspecified=constant_unspecified,
        provenance=provenance,
        note="; ".join(notes),
    )


def verdicts_table(
    df: pd.DataFrame,
    *,
    x: str,
    by: Sequence[str] = ("bound",),
    measured: str = "measured",
    bound_value: str = "value",
    replicate: str | None = None,
    measured_err: str | None = None,
    floor: str | None = None,
    variable: str | None = None,
    predicted: Mapping[str, float] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """One :class:`Verdict` row per group of a long table (one row per bound × setting [× replicate]).

    ``by`` must include the column naming the bound (``bound``); other ``by`` columns split the sweep (e.g.
    ``target``, ``process``). Rows with no bound value (inapplicable) are dropped. With a ``replicate`` column
    the measured values are pivoted to ``[R, n]`` (bound values must agree across replicates). ``predicted``
    overrides exponents per bound name.
    """
    if "bound" not in by:
        raise SgmbenchError("verdicts_table: 'by' must include the 'bound' column")
    data = df[df[bound_value].notna() & df[measured].notna()]
    rows = []
    for key, grp in data.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        labels = dict(zip(by, key))
        name = labels["bound"]
        if replicate is not None and grp[replicate].nunique() > 1:
            wide = grp.pivot_table(index=replicate, columns=x, values=measured, aggfunc="mean")
            xs = wide.columns.to_numpy(dtype=float)
            M = wide.to_numpy(dtype=float)
            Bv = grp.groupby(x)[bound_value].mean().reindex(wide.columns).to_numpy(dtype=float)
            err = None
        else:
            g = grp.groupby(x).agg(
                {measured: "mean", bound_value: "mean", **({measured_err: "mean"} if measured_err else {})}
            )
            xs = g.index.to_numpy(dtype=float)
            M = g[measured].to_numpy(dtype=float)
            Bv = g[bound_value].to_numpy(dtype=float)
            err = g[measured_err].to_numpy(dtype=float) if measured_err else None
        fl = grp.groupby(x)[floor].mean().reindex(xs).to_numpy(dtype=float) if floor else None
        from sgmbench.bounds import bounds as registry

        bnd = name if name in registry else None
        v = verdict(
            xs,
            M,
            Bv,
            variable=variable or x,
            bound=bnd,
            predicted=(predicted or {}).get(name),
            measured_err=err,
            noise_floor=fl,
            **options,
        )
        row = {**labels, **v.as_dict()}
        row["bound"] = name
        rows.append(row)
    return pd.DataFrame(rows)


def fit_rates(
    df: pd.DataFrame,
    *,
    x: str,
    y: str,
    by: Sequence[str] = (),
    replicate: str | None = None,
    asymptotic: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """One :class:`SlopeFit` row per group of a long table (columns of :meth:`SlopeFit.as_dict` plus
    ``by``)."""
    asym = asymptotic or ASYMPTOTIC_END.get(x)
    groups = data_groups(df.dropna(subset=[y]), by)
    rows = []
    for labels, grp in groups:
        if replicate is not None and grp[replicate].nunique() > 1:
            wide = grp.pivot_table(index=replicate, columns=x, values=y, aggfunc="mean")
            fit = fit_slope(
                wide.columns.to_numpy(dtype=float), wide.to_numpy(dtype=float), asymptotic=asym, **options
            )
        else:
            g = grp.groupby(x)[y].mean()
            fit = fit_slope(
                g.index.to_numpy(dtype=float), g.to_numpy(dtype=float), asymptotic=asym, **options
            )
        d = fit.as_dict()
        d.pop("local_slopes")
        rows.append({**labels, **d})
    return pd.DataFrame(rows)


def data_groups(df: pd.DataFrame, by: Sequence[str]):
    """``[(labels, frame)]`` for the groups of ``by`` (one group with no labels if ``by`` is empty)."""
    if not by:
        return [({}, df)]
    out = []
    for key, grp in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        out.append((dict(zip(by, key)), grp))
    return out
