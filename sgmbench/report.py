r"""Reports: per study, ``results/<study>/`` with tables, figures and ``config.json``; ``results/SUMMARY.md``.

For a study the report reads the store (long format, one row per cell × metric) and writes

- ``results.csv``: the long table itself (every column the store has: setting, seed, record, provenance);
- ``<table>.csv``, ``<table>.md``, ``<table>.tex``: wide tables, one column per metric, ``value ± stderr``
  (replicates averaged; an exact value has no ``±``);
- ``rates.csv``/``rates.md``: the fitted exponents of every declared rate, per group, with 95% CI and the
  predicted exponent;
- ``bounds.csv``/``bounds.md`` (when the study names bounds): each bound beside the measured metric per
  cell, and the verdicts (holds everywhere? tightness ratio bound/measured);
- figures (PNG and PDF): metric vs steps (or h, d, ε, n) with fitted slopes and bound curves; measured
  vs bound;
- ``config.json``: the study's configuration as run (full grid, profile) and every cell's key, replicate,
  seed and setting.

``results/SUMMARY.md`` collects every (study, bound) verdict and the fitted-vs-predicted exponents.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sgmbench.errors import SgmbenchError
from sgmbench.store import Store
from sgmbench.study import SPEC_FIELDS, Figure, Rate, Table, jsonable

RESULTS_DIR = Path("results")
# Columns that never define a table row (identifiers, provenance, record fields).
NON_AXIS = {
    "study",
    "cell_key",
    "status",
    "message",
    "seed",
    "replicate",
    "metric",
    "value",
    "stderr",
    "floor",
    "exact",
    "nfe",
    "duration_s",
    "version",
    "git_commit",
    "host",
    "finished_at",
    "attempts",
    "h",
    "device",
}
RESERVED_NAMES = ("results", "rates", "bounds", "bound_verdicts", "bound_rates", "failed", "config")
PREFERRED_ALIASES = {"target.dim": "dim", "score.size": "eps"}


@dataclass
class StudyReport:
    """What :func:`report_study` wrote, and the fits and verdicts that go into SUMMARY.md."""

    study: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    rates: pd.DataFrame | None = None
    verdicts: pd.DataFrame | None = None
    bound_rates: pd.DataFrame | None = None
    cells: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Shaping the long table
# ------------------------------------------------------------------------------------------------
def axis_columns(df: pd.DataFrame) -> list[str]:
    """The columns that vary across the study's cells and say which setting a row is (no duplicates)."""
    if df.empty:
        return []
    cand = [c for c in df.columns if c not in NON_AXIS and not c.startswith("record.")]
    varying = [c for c in cand if df[c].astype(str).nunique(dropna=False) > 1]
    out = []
    for c in varying:
        if c in SPEC_FIELDS:
            names = df[c].astype(str).str.partition(":")[0]
            if names.nunique() == 1 and any(v.startswith(c + ".") for v in varying):
                continue  # the spec's variation is given by its parameter columns
        if "." in c:
            kind = c.split(".", 1)[0]
            if kind in varying and df[kind].astype(str).str.partition(":")[0].nunique() > 1:
                continue  # the spec name varies: the full spec string is the column
            if PREFERRED_ALIASES.get(c) in varying:
                continue
        out.append(c)
    return out


def aggregate(df: pd.DataFrame, index: Sequence[str]) -> pd.DataFrame:
    """Average replicates: mean value; stderr = std/√n across replicates (n > 1) or the mean stderr."""
    keys = [*index, "metric"]
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "value", "stderr", "exact", "meaningful", "n"])
    ok = ok.assign(
        exact=ok["exact"].map(lambda v: v is True or v == 1),
        meaningful=ok["record.meaningful"].map(lambda v: v is not False and v != 0)
        if "record.meaningful" in ok.columns
        else True,
    )
    g = ok.groupby(keys, dropna=False, sort=True)
    out = g.agg(
        value=("value", "mean"),
        sd=("value", "std"),
        stderr_mean=("stderr", "mean"),
        exact=("exact", "all"),
        meaningful=("meaningful", "all"),
        n=("value", "size"),
    ).reset_index()
    out["stderr"] = np.where(out["n"] > 1, out["sd"] / np.sqrt(out["n"]), out["stderr_mean"])
    return out.drop(columns=["sd", "stderr_mean"])


def fmt_value(value: float, stderr: float | None = None, exact: bool = False, meaningful: bool = True) -> str:
    """``1.234e-03 ± 2.1e-05`` (4 significant digits; ``±`` only for estimates; a trailing ``†`` marks an
    estimate the metric module judged not meaningful, e.g. below its noise floor)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    s = f"{value:.4g}"
    if not exact and stderr is not None and np.isfinite(stderr) and stderr > 0:
        s += f" ± {stderr:.2g}"
    return s if meaningful else s + " †"


def wide_table(df: pd.DataFrame, index: Sequence[str] | None = None, metrics: Sequence[str] | None = None):
    """Rows = ``index`` (default: varying axes), one column per metric with ``value ± stderr``."""
    index = list(index) if index is not None else axis_columns(df)
    agg = aggregate(df, index)
    if metrics is not None:
        agg = agg[agg["metric"].isin(metrics)]
    agg["cell"] = [
        fmt_value(v, s, e, mf)
        for v, s, e, mf in zip(agg["value"], agg["stderr"], agg["exact"], agg["meaningful"])
    ]
    if not index:
        agg["setting"] = "all"
        index = ["setting"]
    order = list(dict.fromkeys(df["metric"]))
    wide = agg.pivot_table(index=index, columns="metric", values="cell", aggfunc="first", sort=True)
    wide = wide[[m for m in order if m in wide.columns]].reset_index()
    wide.columns.name = None
    return wide


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]

    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        if isinstance(v, float):
            v = f"{v:.4g}" if np.isfinite(v) else str(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_latex(df: pd.DataFrame, caption: str | None = None) -> str:
    text = df.to_latex(index=False, escape=True, na_rep="--", float_format=lambda v: f"{v:.4g}")
    return text.replace("±", "$\\pm$").replace("—", "--")


def write_table(df: pd.DataFrame, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ext) for ext in (".csv", ".md", ".tex")]  # stems may contain dots
    df.to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(df))
    paths[2].write_text(to_latex(df))
    return paths


# ------------------------------------------------------------------------------------------------
# Rates
# ------------------------------------------------------------------------------------------------
def fit_loglog(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Plain least squares of log y on log x over every point (no window): ``slope``, ``intercept``, ``n``."""
    from sgmbench.analysis import fit_slope

    f = fit_slope(np.asarray(x, float), np.asarray(y, float), window=False, method="ols")
    return {"slope": f.slope, "intercept": f.intercept, "slope_ci": (f.ci_low, f.ci_high), "n": f.n_points}


def rate_groups(df: pd.DataFrame, rate: Rate) -> list[str]:
    """Grouping columns of a rate: ``rate.by`` or every varying axis except ``x`` (and its twins)."""
    if rate.by is not None:
        return list(rate.by)
    twins = {rate.x, "steps", "h", "nfe"} if rate.x in ("steps", "h", "nfe") else {rate.x}
    twins |= {k for k, v in PREFERRED_ALIASES.items() if v == rate.x} | {PREFERRED_ALIASES.get(rate.x, "")}
    return [c for c in axis_columns(df) if c not in twins and c != "replicate"]


def _fit_group(g: pd.DataFrame, x: str, tail: int | None):
    """:func:`sgmbench.analysis.fit_slope` on one group: replicates as ``[R, n]`` when there are several,
    else the series with its standard errors and noise floor (window: floor and pre-asymptotic cut)."""
    from sgmbench.analysis import ASYMPTOTIC_END, fit_slope

    asym = ASYMPTOTIC_END.get(x)
    xs = np.sort(g[x].astype(float).unique())
    if tail:
        xs = xs[-tail:] if asym != "low" else xs[:tail]
        g = g[g[x].astype(float).isin(xs)]
    if g["replicate"].nunique() > 1:
        wide = g.pivot_table(index="replicate", columns=x, values="value", aggfunc="mean").dropna(axis=0)
        return fit_slope(wide.columns.to_numpy(float), wide.to_numpy(float), asymptotic=asym)
    m = (
        g.groupby(x)
        .agg(
            value=("value", "mean"),
            stderr=("stderr", "mean"),
            floor=("floor", "mean"),
            floor_stderr=("floor", "size"),
        )
        .reset_index()
    )
    err = m["stderr"].to_numpy(float)
    err = err if np.all(np.isfinite(err)) and np.any(err > 0) else None
    floor = m["floor"].to_numpy(float)
    floor = floor if np.any(np.nan_to_num(floor) > 0) else None
    return fit_slope(
        m[x].to_numpy(float), m["value"].to_numpy(float), y_err=err, noise_floor=floor, asymptotic=asym
    )


def fit_rates(df: pd.DataFrame, rates: Iterable[Rate]) -> pd.DataFrame:
    """One row per (rate, group): the group's values, the fitted slope (:func:`sgmbench.analysis.fit_slope`:
    95% CI, fitting window, method), the predicted exponent and the verdict."""
    out = []
    for rate in rates:
        sub = df[(df["metric"] == rate.metric) & (df["status"] == "ok")]
        if sub.empty or rate.x not in sub.columns:
            continue
        groups = rate_groups(sub, rate)
        for key, g in sub.groupby(groups, dropna=False, sort=True) if groups else [((), sub)]:
            key = key if isinstance(key, tuple) else (key,)
            if g[rate.x].nunique() < 2:  # x does not vary in this group (another sweep plane): no rate
                continue
            fit = _fit_group(g, rate.x, rate.tail)
            predicted = rate.predicted
            if predicted is None and rate.bound:
                predicted = bound_exponent(rate.bound, rate.x)
            row = {"metric": rate.metric, "x": rate.x, **dict(zip(groups, key))}
            row.update(
                slope=fit.slope,
                slope_ci=(fit.ci_low, fit.ci_high),
                intercept=fit.intercept,
                n=fit.n_points,
                x_min=fit.x_window[0],
                x_max=fit.x_window[1],
                method=fit.method,
                stable=fit.stable,
                predicted=predicted,
                bound=rate.bound,
                verdict=rate_verdict(fit, predicted),
            )
            out.append(row)
    return pd.DataFrame(out)


def rate_verdict(fit, predicted: float | None, tol: float = 0.1) -> str:
    """``matches`` if the predicted exponent lies in the fit's 95% CI widened by ``tol`` (exact metrics have
    tiny CIs, and a finite window is never exactly asymptotic); else ``steeper than predicted`` (a smaller,
    i.e. more negative, exponent) or ``shallower than predicted`` (a larger one); whether that is faster
    convergence depends on the direction of x (steps: steeper = faster; delta or eps: shallower = faster
    decay as they shrink); else ``no prediction`` or ``no fit``."""
    if fit is None or not np.isfinite(fit.slope):
        return "no fit"
    if predicted is None:
        return "no prediction"
    lo, hi = fit.ci_low, fit.ci_high
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = fit.slope
    if lo - tol <= predicted <= hi + tol:
        return "matches"
    return "steeper than predicted" if fit.slope < predicted else "shallower than predicted"


def rates_display(fits: pd.DataFrame) -> pd.DataFrame:
    """The fits as a readable table: group columns, ``fitted slope (95% CI)``, window, predicted, verdict."""
    if fits is None or fits.empty:
        return pd.DataFrame()
    d = fits.copy()
    d["fitted slope (95% CI)"] = [
        f"{s:+.3f} [{c[0]:+.3f}, {c[1]:+.3f}]"
        if np.isfinite(c[0])
        else (f"{s:+.3f}" if np.isfinite(s) else "—")
        for s, c in zip(d["slope"], d["slope_ci"])
    ]
    d["window"] = [f"{a:g}–{b:g}" if np.isfinite(a) else "—" for a, b in zip(d["x_min"], d["x_max"])]
    d["predicted"] = [
        "—" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:+g}" for p in d["predicted"]
    ]
    d = d.drop(
        columns=[
            c for c in ("slope", "intercept", "slope_ci", "x_min", "x_max", "method", "stable") if c in d
        ]
    )
    if "bound" in d.columns and d["bound"].isna().all():
        d = d.drop(columns=["bound"])
    if (d["verdict"] == "no prediction").all():
        d = d.drop(columns=["predicted", "verdict"])
    last = ["fitted slope (95% CI)", "window", "n", "predicted", "verdict", "bound"]
    return d[[c for c in d.columns if c not in last] + [c for c in last if c in d.columns]]


# ------------------------------------------------------------------------------------------------
# Bounds
# ------------------------------------------------------------------------------------------------
def bound_pairs(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The bounds the cells evaluated (one row per cell × bound; :func:`sgmbench.store.bounds_frame`)."""
    from sgmbench.store import bounds_frame

    return bounds_frame(list(rows))


def bound_exponent(bound: str, x: str) -> float | None:
    """The power of ``x`` a bound predicts (``None`` if unknown, not a power, or no such bound)."""
    try:
        from sgmbench.bounds import get_bound

        e = get_bound(bound).exponent(x)
    except (ImportError, SgmbenchError):
        return None
    if e is None or e.form != "power" or e.value is None:
        return None
    return float(e.value)


def bound_rates(pairs: pd.DataFrame, study: str, rates: Sequence[Rate]) -> pd.DataFrame:
    """:func:`sgmbench.analysis.verdicts_table` for every bound and every declared rate's ``x`` on the bound's
    metric, per group of the other varying axes, on the cells where the bound applies and was compared:
    holds, predicted exponent vs fitted measured slope (``tight``/``loose``/``violated``), tightness."""
    from sgmbench.analysis import ASYMPTOTIC_END, verdicts_table
    from sgmbench.store import BOUND_COLUMNS

    if pairs is None or pairs.empty:
        return pd.DataFrame()
    app = pairs[pairs["applicable"] & pairs["measured"].notna() & pairs["bound_value"].notna()]
    out = []
    for rate_x in dict.fromkeys(r.x for r in rates):
        if rate_x not in app.columns or rate_x not in ASYMPTOTIC_END:
            continue
        metrics = {r.metric for r in rates if r.x == rate_x}
        sel = app[app["metric"].isin(metrics)]
        if sel.empty:
            continue
        cell_cols = [c for c in sel.columns if c not in BOUND_COLUMNS and c != "metric"]
        by = [c for c in axis_columns(pairs[cell_cols]) if c not in (rate_x, "steps", "h", "replicate")]
        by = [c for c in by if c != PREFERRED_ALIASES.get(rate_x) and rate_x != PREFERRED_ALIASES.get(c)]
        table = verdicts_table(
            sel,
            x=rate_x,
            by=("bound", *by),
            measured="measured",
            bound_value="bound_value",
            replicate="replicate",
        )
        if not table.empty:
            table.insert(0, "study", study)
            out.append(table)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def bound_verdicts(pairs: pd.DataFrame, study: str, brates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per bound: where it applies, holds everywhere?, violations, tightness ratio bound/measured
    (min, median), vacuous values, why it never applied; and, from :func:`bound_rates`, the predicted
    exponent, the median fitted slopes and the rate verdicts over the sweeps (e.g. ``loose ×4``)."""
    if pairs is None or pairs.empty:
        return pd.DataFrame()
    rows = []
    for bound, g in pairs.groupby("bound", sort=True):
        app = g[g["applicable"]]
        holds = app["holds"].dropna().astype(bool)
        ratio = app["ratio"].replace([np.inf, -np.inf], np.nan).dropna()
        failed = g.loc[~g["applicable"], "failed"].dropna()
        row = {
            "study": study,
            "bound": bound,
            "compares": g["compares"].iloc[0],
            "direction": g["direction"].iloc[0],
            "applicable": f"{len(app)}/{len(g)}",
            "holds everywhere": ("yes" if holds.all() else "no") if len(holds) else "—",
            "violations": int((~holds).sum()),
            "bound/measured min": float(ratio.min()) if len(ratio) else float("nan"),
            "bound/measured median": float(ratio.median()) if len(ratio) else float("nan"),
            "vacuous": int(app["vacuous"].fillna(False).astype(bool).sum()),
        }
        sel = brates[brates["bound"] == bound] if brates is not None and not brates.empty else pd.DataFrame()
        if not sel.empty:
            for var, v in sel.groupby("variable", sort=True):
                pred = v["predicted_exponent"].dropna()
                row[f"exponent in {var}: predicted"] = float(pred.iloc[0]) if len(pred) else float("nan")
                row[f"exponent in {var}: measured"] = float(v["measured_slope"].median())
                counts = v["rate"].value_counts()
                row[f"rate in {var}"] = ", ".join(f"{k} ×{n}" for k, n in counts.items())
        row["inapplicable because"] = failed.mode().iloc[0] if len(failed) else ""
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# One study
# ------------------------------------------------------------------------------------------------
def _declared(config: Mapping[str, Any] | None, key: str, cls):
    items = (config or {}).get(key) or []
    out = []
    for item in items:
        item = dict(item)
        for k, v in item.items():
            if isinstance(v, list):
                item[k] = tuple(v)
        out.append(cls(**item))
    return out


def default_figures(df: pd.DataFrame, rates: Sequence[Rate], metrics: Sequence[str]) -> list[Figure]:
    """One rate figure per declared rate (or per metric vs steps), hue = process or sampler if varying."""
    axes = axis_columns(df)
    figures = []
    pairs = [(r.metric, r.x) for r in rates] or [(m, "steps") for m in metrics if "steps" in axes]
    for metric, x in dict.fromkeys(pairs):
        rest = [c for c in axes if c not in (x, "steps", "h") and c != PREFERRED_ALIASES.get(x)]
        hue = next((c for c in ("process", "sampler") if c in rest), rest[0] if rest else None)
        rest = [c for c in rest if c != hue]
        figures.append(
            Figure(
                f"{metric}_vs_{x}",
                metric,
                x,
                hue,
                rest[0] if rest else None,
                rest[1] if len(rest) > 1 else None,
            )
        )
    return figures


def _check_columns(df: pd.DataFrame, columns: Sequence[str | None], what: str) -> None:
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise SgmbenchError(
            f"{what}: no column {missing[0]!r} in the results; columns: {', '.join(map(str, df.columns))}"
        )


def analyse_study(store: Store, study: str, directory: Path):
    """Read one study from the store and compute what its report and SUMMARY.md need: the long table,
    the rate fits, the bounds evaluated in the cells, their rate verdicts and overall verdicts."""
    from sgmbench.store import long_frame

    stored = store.rows(study)
    df = long_frame(stored)
    if df.empty:
        raise SgmbenchError(
            f"store {store.path} has no results for study {study!r} (run: sgmbench run {study})"
        )
    config = store.study_config(study) or {"study": study}
    rep = StudyReport(study, directory)
    rep.cells = int(df["cell_key"].nunique())
    rep.failed = int(df.loc[df["status"] == "failed", "cell_key"].nunique())
    rates = _declared(config, "rates", Rate)
    for r in rates:
        _check_columns(df, [r.x, *(r.by or ())], f"study {study!r}: rate {r.metric} vs {r.x}")
    fits = fit_rates(df, rates) if rates else pd.DataFrame()
    rep.rates = fits.assign(study=study) if not fits.empty else fits
    pairs = bound_pairs(stored)
    if not pairs.empty:
        rep.bound_rates = bound_rates(pairs, study, rates)
        rep.verdicts = bound_verdicts(pairs, study, rep.bound_rates)
    return rep, stored, df, config, rates, fits, pairs


def report_study(store: Store, study: str, results_dir: str | Path = RESULTS_DIR) -> StudyReport:
    """Write ``results_dir/<study>/`` (see the module docstring) from the store; return what it wrote."""
    out = Path(results_dir) / study
    rep, stored, df, config, rates, fits, pairs = analyse_study(store, study, out)
    tables = _declared(config, "tables", Table) or [Table()]
    for t in tables:
        if t.name in RESERVED_NAMES:
            raise SgmbenchError(f"study {study!r}: table names {', '.join(RESERVED_NAMES)} are reserved")
        _check_columns(df, t.index or (), f"study {study!r}: table {t.name!r}")
    out.mkdir(parents=True, exist_ok=True)

    long_path = out / "results.csv"
    df.to_csv(long_path, index=False)
    rep.files.append(long_path)
    for t in tables:
        rep.files += write_table(wide_table(df, t.index, t.metrics), out / t.name)

    failed = df[df["status"] == "failed"].drop_duplicates("cell_key")
    if not failed.empty:
        cols = [c for c in axis_columns(df) if c in failed.columns] + ["message"]
        rep.files += write_table(failed[cols].reset_index(drop=True), out / "failed")
    if not fits.empty:
        rep.files += write_table(rates_display(fits), out / "rates")
    if not pairs.empty:
        if rep.bound_rates is not None and not rep.bound_rates.empty:
            rep.files += write_table(rep.bound_rates, out / "bound_rates")
        cols = [c for c in axis_columns(df) if c in pairs.columns]
        shown = ["bound", "metric", "applicable", "bound_value", "measured", "holds", "ratio", "failed"]
        rep.files += write_table(pairs[cols + shown], out / "bounds")
        rep.files += write_table(rep.verdicts, out / "bound_verdicts")

    rep.files += _figures(df, config, rates, fits, pairs, out)
    rep.files += _study_report_fn(store, config, out, rep)

    cfg_path = out / "config.json"
    cells = [
        {"cell_key": r.cell_key, "replicate": int(r.replicate), "seed": int(r.seed), "status": r.status}
        for r in df.drop_duplicates("cell_key").itertuples()
    ]
    rows = {r["cell_key"]: r for r in stored}
    for c in cells:
        c["cell"] = rows[c["cell_key"]]["cell"]
        c["git_commit"] = rows[c["cell_key"]]["git_commit"]
        c["version"] = rows[c["cell_key"]]["version"]
    cfg_path.write_text(
        json.dumps(jsonable({"config": config, "cells": cells}), indent=1, sort_keys=False) + "\n"
    )
    rep.files.append(cfg_path)
    return rep


def _study_report_fn(store: Store, config: Mapping[str, Any], out: Path, rep: StudyReport) -> list[Path]:
    """Call the study's own ``report_fn(store, directory)`` (if any). Its failure is a warning in the
    report, not a lost report: the generic files are already written."""
    name = config.get("report_fn")
    if not name:
        return []
    from sgmbench.study import load_cell_fn

    try:
        paths = load_cell_fn(name)(store, out) or []
        return [Path(p) for p in paths]
    except Exception as exc:
        rep.warnings.append(
            f"{rep.study}: report_fn {name} failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
        )
        return []


def undrawn_axes(data: pd.DataFrame, f: Figure) -> list[str]:
    """The varying axes a figure must be split by: those not drawn (``x``, ``hue``, ``col``, ``row``) that
    take several values at one point of the drawing (same ``x`` and facets), so that a line would
    otherwise average different settings. An axis fixed by the drawn ones (e.g. a horizon chosen per
    process and dimension) does not split."""
    drawn = {f.x, f.hue, f.col, f.row, "replicate", PREFERRED_ALIASES.get(f.x)}
    keys = [c for c in (f.x, f.hue, f.col, f.row) if c and c in data.columns and data[c].notna().any()]
    out: list[str] = []
    for c in axis_columns(data):
        if c in drawn or (f.x in ("steps", "h") and c == "steps"):
            continue
        by = keys + out
        spread = (
            data.groupby(by, dropna=False)[c].nunique(dropna=False) if by else pd.Series([data[c].nunique()])
        )
        if (spread > 1).any():
            out.append(c)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


def _figures(df, config, rates, fits, pairs, out: Path) -> list[Path]:
    """Draw the declared figures (or :func:`default_figures`). Axes that vary but are not drawn (neither
    ``x``, ``hue``, ``col`` nor ``row``) split a figure into one file per value (``<name>_dim=4``), so
    that lines never average over different settings."""
    from sgmbench import plots

    figures = _declared(config, "figures", Figure) or default_figures(df, rates, config.get("metrics") or [])
    ok = df[df["status"] == "ok"]
    study = config.get("study", "")
    files: list[Path] = []
    for f in figures:
        if f.kind == "bound":
            if pairs is None or pairs.empty or not pairs["applicable"].any():
                continue
            sel = pairs[pairs["applicable"]]
            fig = plots.bound_figure(sel[sel["metric"] == f.metric] if f.metric else sel, title=f.name)
            files += plots.save(fig, out / f.name)
            continue
        _check_columns(df, [f.x, f.hue, f.col, f.row], f"study {study!r}: figure {f.name!r}")
        mine = ok[(ok["metric"] == f.metric) & ok["value"].notna()]
        # points that cannot be drawn on the figure's scales (no x in this sweep plane, or <= 0 on a log axis)
        x_num = pd.to_numeric(mine[f.x], errors="coerce") if f.x in mine.columns else None
        if x_num is not None and x_num.notna().any():  # a categorical x is left as it is
            keep = x_num.notna() & ((x_num > 0) if f.logx else True)
            mine = mine[keep & ((mine["value"] > 0) if f.logy else True)]
        if mine.empty:
            continue
        predicted = next((r.predicted for r in rates if r.metric == f.metric and r.x == f.x), None)
        rest = undrawn_axes(mine, f)
        for key, sub in mine.groupby(rest, dropna=False, sort=True) if rest else [((), mine)]:
            key = key if isinstance(key, tuple) else (key,)
            where = dict(zip(rest, key))
            ffits = fits[(fits["metric"] == f.metric) & (fits["x"] == f.x)] if not fits.empty else None
            bsel = None
            if pairs is not None and not pairs.empty and f.x in pairs.columns:
                bsel = pairs[(pairs["metric"] == f.metric) & pairs["applicable"]]
            for k, v in where.items():
                if ffits is not None and k in ffits.columns:
                    ffits = ffits[ffits[k] == v]
                if bsel is not None and k in bsel.columns:
                    bsel = bsel[bsel[k] == v]
            label = ", ".join(f"{k} = {v}" for k, v in where.items())
            fig = plots.rate_figure(
                sub,
                f.x,
                f.metric,
                hue=f.hue,
                col=f.col,
                row=f.row,
                fits=ffits,
                bounds=bsel,
                predicted=predicted,
                logx=f.logx,
                logy=f.logy,
                title=f"{study}: {f.name}" + (f" ({label})" if label else ""),
            )
            suffix = "_" + _slug("_".join(f"{k}={v}" for k, v in where.items())) if where else ""
            files += plots.save(fig, out / f"{f.name}{suffix}")
    has_bounds = pairs is not None and not pairs.empty and bool(pairs["applicable"].any())
    if has_bounds and not any(f.kind == "bound" for f in figures):
        sel = pairs[pairs["applicable"]]
        files += plots.save(plots.bound_figure(sel, title="measured vs bound"), out / "measured_vs_bound")
    return files


# ------------------------------------------------------------------------------------------------
# All studies
# ------------------------------------------------------------------------------------------------
def bound_rates_display(brates: pd.DataFrame) -> pd.DataFrame:
    """The compact view of :func:`bound_rates` for SUMMARY.md."""
    keep = [
        "study",
        "bound",
        "variable",
        "metric",
        "predicted_exponent",
        "measured_slope",
        "measured_ci_low",
        "measured_ci_high",
        "bound_slope",
        "rate",
        "holds_everywhere",
        "tightness_median",
    ]
    groups = [c for c in brates.columns if c not in keep and c not in _VERDICT_FIELDS]
    d = brates[[c for c in ["study", "bound", *groups] + keep[2:] if c in brates.columns]].copy()
    return d


_VERDICT_FIELDS = (
    "direction",
    "n_settings",
    "n_violations",
    "worst_ratio",
    "measured_window",
    "rate_gap",
    "tightness_min",
    "tightness_max",
    "constant_unspecified",
    "provenance",
    "note",
)


def write_summary(reports: Sequence[StudyReport], results_dir: str | Path = RESULTS_DIR) -> Path:
    """``results/SUMMARY.md``: every (study, bound) verdict and the fitted-vs-predicted exponents."""
    path = Path(results_dir) / "SUMMARY.md"
    lines = ["# sgmbench summary", ""]
    lines += ["Generated by `sgmbench report` from the store; per-study details in `results/<study>/`.", ""]
    lines += ["## Studies", ""]
    lines.append(
        to_markdown(
            pd.DataFrame(
                [
                    {"study": r.study, "cells": r.cells, "failed": r.failed, "directory": str(r.directory)}
                    for r in reports
                ]
            )
        )
    )
    verdicts = [r.verdicts for r in reports if r.verdicts is not None and not r.verdicts.empty]
    lines += ["## Bound verdicts (study, bound)", ""]
    lines += [
        "`holds everywhere`: measured <= bound on every cell where the bound applies and a measurement "
        "of the same quantity exists; `bound/measured`: the tightness ratio (1 is tight); "
        "`rate`: the bound's exponent against the fitted slope.",
        "",
    ]
    if verdicts:
        lines.append(to_markdown(pd.concat(verdicts, ignore_index=True)))
    else:
        lines += ["No bound was evaluated.", ""]
    rates = [r.rates for r in reports if r.rates is not None and not r.rates.empty]
    lines += ["## Fitted vs predicted exponents", ""]
    lines += [
        "Least-squares slope of log(metric) vs log(x) per group, 95% CI; `matches` when the predicted "
        "exponent lies in the CI widened by 0.1.",
        "",
    ]
    if rates:
        disp = rates_display(pd.concat(rates, ignore_index=True))
        cols = ["study"] + [c for c in disp.columns if c != "study"]
        lines.append(to_markdown(disp[cols]))
    else:
        lines += ["No rate was fitted.", ""]
    brates = [r.bound_rates for r in reports if r.bound_rates is not None and not r.bound_rates.empty]
    if brates:
        lines += ["### Bounds: predicted exponent vs fitted slope, per sweep", ""]
        lines += [
            "`tight`: the 95% CI of the measured slope contains the bound's exponent; `loose`: the measured "
            "error decays faster; `violated`: slower (the bound must eventually fail). See "
            "`results/<study>/bound_rates.csv` for windows and CIs.",
            "",
        ]
        lines.append(to_markdown(bound_rates_display(pd.concat(brates, ignore_index=True))))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def summarise_study(store: Store, study: str) -> StudyReport:
    """The fits and verdicts of a study for SUMMARY.md, without writing its directory."""
    return analyse_study(store, study, Path(RESULTS_DIR) / study)[0]


def report(store: Store, studies: Sequence[str] | None = None, results_dir: str | Path = RESULTS_DIR):
    """Report the given studies (default: every study in the store) and write SUMMARY.md over all of them."""
    names = list(studies) if studies else store.studies()
    if not names:
        raise SgmbenchError(f"store {store.path} has no results yet (run: sgmbench run all)")
    for name in names:
        if store.count(name) == 0:
            raise SgmbenchError(
                f"store {store.path} has no results for study {name!r} (run: sgmbench run {name})"
            )
    reports = [report_study(store, name, results_dir) for name in names]
    others = [summarise_study(store, n) for n in store.studies() if n not in names and store.count(n)]
    summary = write_summary(sorted(reports + others, key=lambda r: r.study), results_dir)
    return reports, summary


# ------------------------------------------------------------------------------------------------
# sgmbench compare: several processes or samplers side by side over step counts
# ------------------------------------------------------------------------------------------------
@dataclass
class CompareResult:
    """The long table, the wide table, the fitted rates and the files of one ``sgmbench compare``."""

    vary: str
    table: pd.DataFrame
    wide: pd.DataFrame
    fits: pd.DataFrame
    files: list[Path]

    def rates_records(self) -> list[dict[str, Any]]:
        if self.fits.empty:
            return []
        cols = [self.vary, "metric", "slope", "slope_ci", "n", "x_min", "x_max", "method"]
        return self.fits[[c for c in cols if c in self.fits.columns]].to_dict(orient="records")

    def text(self) -> str:
        lines = [to_markdown(self.wide)]
        if not self.fits.empty:
            lines += ["fitted rates (metric ≈ C · steps^slope):", to_markdown(rates_display(self.fits))]
        failed = self.table[self.table["status"] == "failed"].drop_duplicates("cell_key")
        for r in failed.itertuples():
            lines.append(f"failed: {getattr(r, self.vary)} steps={r.steps}: {r.message}")
        lines.append("files: " + ", ".join(str(f) for f in self.files))
        return "\n".join(lines)


def compare(
    base,
    vary: str,
    specs: Sequence[str],
    steps: Sequence[int],
    metrics: Sequence[str],
    out: str | Path,
) -> CompareResult:
    """Measure ``metrics`` for every spec of ``vary`` (``process`` or ``sampler``) × step count, in this
    process, with the seed of ``base`` (common random numbers across step counts); write
    ``compare.csv`` (long), ``table.{csv,md,tex}``, ``rates.{csv,md,tex}``, ``<metric>_vs_steps.{png,pdf}``
    and ``config.json`` to ``out``."""
    from sgmbench import plots
    from sgmbench.measure import validate
    from sgmbench.runner import run_cells_inline
    from sgmbench.store import long_frame
    from sgmbench.study import DEFAULT_CELL_FN, Cell

    if vary not in ("process", "sampler"):
        raise SgmbenchError(f"compare varies 'process' or 'sampler', not {vary!r}")
    if len(set(specs)) != len(specs):
        raise SgmbenchError(
            f"--{vary}es lists a {vary} twice" if vary == "process" else "--samplers lists a sampler twice"
        )
    cells = []
    for spec in specs:
        validate(base.replace(**{vary: spec}), metrics)
        for n in sorted(set(steps)):
            cells.append(
                Cell(
                    base.replace(**{vary: spec, "steps": int(n)}),
                    tuple(metrics),
                    (),
                    0,
                    DEFAULT_CELL_FN,
                    "compare",
                )
            )
    results = run_cells_inline(cells)
    rows = [
        {
            "study": "compare",
            "cell_key": r.cell_key,
            "status": r.status,
            "message": r.message,
            "seed": r.cell["setting"]["seed"],
            "replicate": 0,
            "cell": r.cell,
            "outcome": r.outcome,
            "started_at": r.started_at,
            "finished_at": r.started_at,
            "duration_s": r.duration_s,
            "version": None,
            "git_commit": None,
            "host": r.host,
            "run_id": None,
            "attempts": 1,
        }
        for r in results
    ]
    df = long_frame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    p = out / "compare.csv"
    df.to_csv(p, index=False)
    files.append(p)
    wide = wide_table(df, [vary, "steps"], list(metrics))
    order = {spec: i for i, spec in enumerate(specs)}  # the user's order, not alphabetical
    wide = wide.sort_values([vary, "steps"], key=lambda c: c.map(order) if c.name == vary else c)
    wide = wide.reset_index(drop=True)
    files += write_table(wide, out / "table")
    fits = fit_rates(df, [Rate(m, "steps", by=(vary,)) for m in metrics])
    if not fits.empty:
        files += write_table(rates_display(fits), out / "rates")
    ok = df[df["status"] == "ok"]
    for m in metrics:
        if not ok.empty and (ok["metric"] == m).any():
            fig = plots.rate_figure(
                ok,
                "steps",
                m,
                hue=vary,
                fits=fits[fits["metric"] == m] if not fits.empty else None,
                title=f"{m} vs steps: {base.target}",
            )
            files += plots.save(fig, out / f"{m}_vs_steps")
    cfg = {
        "vary": vary,
        "specs": list(specs),
        "steps": sorted(set(steps)),
        "metrics": list(metrics),
        "base": base.as_dict(),
        "cells": [{"cell_key": c.key(), "setting": c.setting.as_dict()} for c in cells],
    }
    (out / "config.json").write_text(json.dumps(jsonable(cfg), indent=1) + "\n")
    files.append(out / "config.json")
    return CompareResult(vary, df, wide, fits, files)
