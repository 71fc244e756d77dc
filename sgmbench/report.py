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
    "study", "cell_key", "status", "message", "seed", "replicate", "metric", "value", "stderr", "floor",
    "exact", "nfe", "duration_s", "version", "git_commit", "host", "finished_at", "attempts", "h", "device",
}  # fmt: skip
RESERVED_NAMES = ("results", "rates", "bounds", "bound_verdicts", "failed", "config")
PREFERRED_ALIASES = {"target.dim": "dim", "score.size": "eps"}


@dataclass
class StudyReport:
    """What :func:`report_study` wrote, and the fits and verdicts that go into SUMMARY.md."""

    study: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    rates: pd.DataFrame | None = None
    verdicts: pd.DataFrame | None = None
    cells: int = 0
    failed: int = 0


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
        return pd.DataFrame(columns=[*keys, "value", "stderr", "exact", "n"])
    g = ok.groupby(keys, dropna=False, sort=True)
    out = g.agg(
        value=("value", "mean"),
        sd=("value", "std"),
        stderr_mean=("stderr", "mean"),
        exact=("exact", lambda s: bool(pd.Series(s).fillna(False).astype(bool).all())),
        n=("value", "size"),
    ).reset_index()
    out["stderr"] = np.where(out["n"] > 1, out["sd"] / np.sqrt(out["n"]), out["stderr_mean"])
    return out.drop(columns=["sd", "stderr_mean"])


def fmt_value(value: float, stderr: float | None = None, exact: bool = False) -> str:
    """``1.234e-03 ± 2.1e-05`` (4 significant digits; ``±`` only for estimates)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    s = f"{value:.4g}"
    if not exact and stderr is not None and np.isfinite(stderr) and stderr > 0:
        s += f" ± {stderr:.2g}"
    return s


def wide_table(df: pd.DataFrame, index: Sequence[str] | None = None, metrics: Sequence[str] | None = None):
    """Rows = ``index`` (default: varying axes), one column per metric with ``value ± stderr``."""
    index = list(index) if index is not None else axis_columns(df)
    agg = aggregate(df, index)
    if metrics is not None:
        agg = agg[agg["metric"].isin(metrics)]
    agg["cell"] = [fmt_value(v, s, e) for v, s, e in zip(agg["value"], agg["stderr"], agg["exact"])]
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
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    df.to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(df))
    paths[2].write_text(to_latex(df))
    return paths


# ------------------------------------------------------------------------------------------------
# Rates
# ------------------------------------------------------------------------------------------------
def fit_loglog(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Least squares of log y on log x: slope, intercept, slope stderr and CI, R², n points."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log(x[keep]), np.log(y[keep])
    n = int(x.size)
    nan = float("nan")
    if n < 2 or np.ptp(x) == 0:
        return {"slope": nan, "intercept": nan, "slope_stderr": nan, "slope_ci": (nan, nan), "r2": nan, "n": n}
    res = stats.linregress(x, y)
    se = float(res.stderr) if n > 2 else nan
    q = float(stats.t.ppf(0.5 + level / 2, n - 2)) if n > 2 else nan
    ci = (res.slope - q * se, res.slope + q * se) if n > 2 else (nan, nan)
    return {
        "slope": float(res.slope),
        "intercept": float(res.intercept),
        "slope_stderr": se,
        "slope_ci": (float(ci[0]), float(ci[1])),
        "r2": float(res.rvalue**2) if n > 2 else 1.0,
        "n": n,
    }


def rate_groups(df: pd.DataFrame, rate: Rate) -> list[str]:
    """Grouping columns of a rate: ``rate.by`` or every varying axis except ``x`` (and its twins)."""
    if rate.by is not None:
        return list(rate.by)
    twins = {rate.x, "steps", "h", "nfe"} if rate.x in ("steps", "h", "nfe") else {rate.x}
    twins |= {k for k, v in PREFERRED_ALIASES.items() if v == rate.x} | {PREFERRED_ALIASES.get(rate.x, "")}
    return [c for c in axis_columns(df) if c not in twins]


def fit_rates(df: pd.DataFrame, rates: Iterable[Rate]) -> pd.DataFrame:
    """One row per (rate, group): x, metric, the group's values, fitted slope ± CI, predicted, verdict."""
    out = []
    for rate in rates:
        sub = df[(df["metric"] == rate.metric) & (df["status"] == "ok")]
        if sub.empty or rate.x not in sub.columns:
            continue
        groups = rate_groups(sub, rate)
        agg = aggregate(sub, [*groups, rate.x]) if groups else aggregate(sub, [rate.x])
        for key, g in agg.groupby(groups, dropna=False, sort=True) if groups else [((), agg)]:
            g = g.sort_values(rate.x)
            if rate.tail:
                g = g.tail(rate.tail)
            fit = fit_loglog(g[rate.x], g["value"])
            key = key if isinstance(key, tuple) else (key,)
            row = {"metric": rate.metric, "x": rate.x, **dict(zip(groups, key))}
            row.update(fit)
            row["x_min"], row["x_max"] = float(g[rate.x].min()), float(g[rate.x].max())
            row["predicted"] = rate.predicted
            row["bound"] = rate.bound
            row["verdict"] = rate_verdict(fit, rate.predicted)
            out.append(row)
    return pd.DataFrame(out)


def rate_verdict(fit: Mapping[str, Any], predicted: float | None, tol: float = 0.1) -> str:
    """``matches`` if the predicted exponent lies in the 95% CI widened by ``tol``; ``faster``/``slower``
    otherwise (the sign convention: a more negative slope is faster decay); ``no prediction``/``no fit``."""
    if not np.isfinite(fit.get("slope", float("nan"))):
        return "no fit"
    if predicted is None:
        return "no prediction"
    lo, hi = fit["slope_ci"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = fit["slope"]
    if lo - tol <= predicted <= hi + tol:
        return "matches"
    return "faster than predicted" if fit["slope"] < predicted else "slower than predicted"


def rates_display(fits: pd.DataFrame) -> pd.DataFrame:
    if fits is None or fits.empty:
        return pd.DataFrame()
    d = fits.copy()
    d["fitted slope (95% CI)"] = [
        f"{s:+.3f} [{c[0]:+.3f}, {c[1]:+.3f}]" if np.isfinite(c[0]) else (f"{s:+.3f}" if np.isfinite(s) else "—")
        for s, c in zip(d["slope"], d["slope_ci"])
    ]
    d["predicted"] = [("—" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:+g}") for p in d["predicted"]]
    drop = ["slope", "intercept", "slope_stderr", "slope_ci", "x_min", "x_max", "r2"]
    d["R²"] = [f"{v:.4f}" if np.isfinite(v) else "—" for v in fits["r2"]]
    d = d.drop(columns=[c for c in drop if c in d.columns])
    first = [c for c in d.columns if c not in ("fitted slope (95% CI)", "predicted", "verdict", "R²", "n", "bound")]
    d = d[first + [c for c in ("fitted slope (95% CI)", "predicted", "verdict", "R²", "n", "bound") if c in d.columns]]
    if "bound" in d.columns and d["bound"].isna().all():
        d = d.drop(columns=["bound"])
    return d


# ------------------------------------------------------------------------------------------------
# Bounds
# ------------------------------------------------------------------------------------------------
def bound_pairs(df: pd.DataFrame, bound_names: Sequence[str] | None) -> pd.DataFrame:
    """Every applicable bound beside the measured metric, per ok cell (empty without ``sgmbench.bounds``).

    Columns: the long table's setting columns, ``bound``, ``metric``, ``measured``, ``bound_value``,
    ``holds``, ``ratio`` (bound/measured).
    """
    if not bound_names:
        return pd.DataFrame()
    try:
        from sgmbench.bounds import evaluate_bounds
    except ImportError:
        return pd.DataFrame()
    return evaluate_bounds(df, list(bound_names))


def bound_verdicts(pairs: pd.DataFrame, study: str) -> pd.DataFrame:
    """Per (bound, metric): cells evaluated, holds everywhere?, tightness ratio bound/measured (min, median)."""
    if pairs is None or pairs.empty:
        return pd.DataFrame()
    rows = []
    for (bound, metric), g in pairs.groupby(["bound", "metric"], sort=True):
        ratio = g["ratio"].replace([np.inf, -np.inf], np.nan).dropna()
        holds = g["holds"].dropna().astype(bool)
        rows.append(
            {
                "study": study,
                "bound": bound,
                "metric": metric,
                "cells": int(len(g)),
                "holds everywhere": bool(holds.all()) if len(holds) else None,
                "violations": int((~holds).sum()),
                "ratio min": float(ratio.min()) if len(ratio) else float("nan"),
                "ratio median": float(ratio.median()) if len(ratio) else float("nan"),
            }
        )
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
        figures.append(Figure(f"{metric}_vs_{x}", metric, x, hue, rest[0] if rest else None,
                              rest[1] if len(rest) > 1 else None))  # fmt: skip
    return figures


def report_study(store: Store, study: str, results_dir: str | Path = RESULTS_DIR) -> StudyReport:
    """Write ``results_dir/<study>/`` (see the module docstring) from the store; return what it wrote."""
    df = store.frame(study)
    if df.empty:
        raise SgmbenchError(f"store {store.path} has no results for study {study!r} (run: sgmbench run {study})")
    config = store.study_config(study) or {"study": study}
    out = Path(results_dir) / study
    out.mkdir(parents=True, exist_ok=True)
    rep = StudyReport(study, out)
    rep.cells = int(df["cell_key"].nunique())
    rep.failed = int(df.loc[df["status"] == "failed", "cell_key"].nunique())

    long_path = out / "results.csv"
    df.to_csv(long_path, index=False)
    rep.files.append(long_path)

    tables = _declared(config, "tables", Table) or [Table()]
    if any(t.name in RESERVED_NAMES for t in tables):
        raise SgmbenchError(f"study {study!r}: table names {', '.join(RESERVED_NAMES)} are reserved")
    for t in tables:
        wide = wide_table(df, t.index, t.metrics)
        rep.files += write_table(wide, out / t.name)

    failed = df[df["status"] == "failed"].drop_duplicates("cell_key")
    if not failed.empty:
        cols = [c for c in axis_columns(df) if c in failed.columns] + ["message"]
        rep.files += write_table(failed[cols].reset_index(drop=True), out / "failed")

    rates = _declared(config, "rates", Rate)
    fits = fit_rates(df, rates) if rates else pd.DataFrame()
    rep.rates = fits.assign(study=study) if not fits.empty else fits
    if not fits.empty:
        rep.files += write_table(rates_display(fits), out / "rates")

    pairs = bound_pairs(df, config.get("bounds"))
    if not pairs.empty:
        rep.verdicts = bound_verdicts(pairs, study)
        rep.files += write_table(pairs, out / "bounds")
        rep.files += write_table(rep.verdicts, out / "bound_verdicts")

    rep.files += _figures(df, config, rates, fits, pairs, out)

    cfg_path = out / "config.json"
    cells = [
        {"cell_key": r.cell_key, "replicate": int(r.replicate), "seed": int(r.seed), "status": r.status}
        for r in df.drop_duplicates("cell_key").itertuples()
    ]
    rows = {r["cell_key"]: r for r in store.rows(study)}
    for c in cells:
        c["cell"] = rows[c["cell_key"]]["cell"]
        c["git_commit"] = rows[c["cell_key"]]["git_commit"]
        c["version"] = rows[c["cell_key"]]["version"]
    cfg_path.write_text(json.dumps(jsonable({"config": config, "cells": cells}), indent=1, sort_keys=False) + "\n")
    rep.files.append(cfg_path)
    return rep


def _figures(df, config, rates, fits, pairs, out: Path) -> list[Path]:
    from sgmbench import plots

    figures = _declared(config, "figures", Figure) or default_figures(df, rates, config.get("metrics") or [])
    ok = df[df["status"] == "ok"]
    files: list[Path] = []
    for f in figures:
        if f.kind == "bound":
            if pairs is None or pairs.empty:
                continue
            fig = plots.bound_figure(pairs[pairs["metric"] == f.metric] if f.metric else pairs, title=f.name)
            files += plots.save(fig, out / f.name)
            continue
        if ok.empty or f.x not in ok.columns or (ok["metric"] == f.metric).sum() == 0:
            continue
        predicted = next((r.predicted for r in rates if r.metric == f.metric and r.x == f.x), None)
        ffits = fits[(fits["metric"] == f.metric) & (fits["x"] == f.x)] if not fits.empty else None
        bsel = None
        if pairs is not None and not pairs.empty and f.x in pairs.columns:
            bsel = pairs[pairs["metric"] == f.metric]
        fig = plots.rate_figure(
            ok, f.x, f.metric, hue=f.hue, col=f.col, row=f.row, fits=ffits, bounds=bsel,
            predicted=predicted, logx=f.logx, logy=f.logy, title=f"{config.get('study', '')}: {f.name}",
        )  # fmt: skip
        files += plots.save(fig, out / f.name)
    if pairs is not None and not pairs.empty and not any(f.kind == "bound" for f in figures):
        files += plots.save(plots.bound_figure(pairs, title="measured vs bound"), out / "measured_vs_bound")
    return files


# ------------------------------------------------------------------------------------------------
# All studies
# ------------------------------------------------------------------------------------------------
def write_summary(reports: Sequence[StudyReport], results_dir: str | Path = RESULTS_DIR) -> Path:
    """``results/SUMMARY.md``: every (study, bound) verdict and the fitted-vs-predicted exponents."""
    path = Path(results_dir) / "SUMMARY.md"
    lines = ["# sgmbench summary", ""]
    lines += ["Generated by `sgmbench report` from the store; per-study details in `results/<study>/`.", ""]
    lines += ["## Studies", ""]
    lines.append(to_markdown(pd.DataFrame(
        [{"study": r.study, "cells": r.cells, "failed": r.failed, "directory": str(r.directory)} for r in reports]
    )))  # fmt: skip
    verdicts = [r.verdicts for r in reports if r.verdicts is not None and not r.verdicts.empty]
    lines += ["## Bound verdicts (study, bound)", ""]
    if verdicts:
        v = pd.concat(verdicts, ignore_index=True)
        lines.append(to_markdown(v))
    else:
        lines += ["No bound was evaluated.", ""]
    rates = [r.rates for r in reports if r.rates is not None and not r.rates.empty]
    lines += ["## Fitted vs predicted exponents", ""]
    if rates:
        disp = rates_display(pd.concat(rates, ignore_index=True))
        cols = ["study"] + [c for c in disp.columns if c != "study"]
        lines.append(to_markdown(disp[cols].fillna("")))
    else:
        lines += ["No rate was fitted.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def summarise_study(store: Store, study: str) -> StudyReport:
    """The fits and verdicts of a study for SUMMARY.md, without writing its directory."""
    df = store.frame(study)
    config = store.study_config(study) or {"study": study}
    rep = StudyReport(study, Path(RESULTS_DIR) / study)
    if df.empty:
        return rep
    rep.cells = int(df["cell_key"].nunique())
    rep.failed = int(df.loc[df["status"] == "failed", "cell_key"].nunique())
    rates = _declared(config, "rates", Rate)
    fits = fit_rates(df, rates) if rates else pd.DataFrame()
    rep.rates = fits.assign(study=study) if not fits.empty else fits
    pairs = bound_pairs(df, config.get("bounds"))
    rep.verdicts = bound_verdicts(pairs, study) if not pairs.empty else None
    return rep


def report(store: Store, studies: Sequence[str] | None = None, results_dir: str | Path = RESULTS_DIR):
    """Report the given studies (default: every study in the store) and write SUMMARY.md over all of them."""
    names = list(studies) if studies else store.studies()
    if not names:
        raise SgmbenchError(f"store {store.path} has no results yet (run: sgmbench run all)")
    for name in names:
        if store.count(name) == 0:
            raise SgmbenchError(f"store {store.path} has no results for study {name!r} (run: sgmbench run {name})")
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
        cols = [self.vary, "metric", "slope", "slope_ci", "r2", "n"]
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
        raise SgmbenchError(f"--{vary}es lists a {vary} twice" if vary == "process" else "--samplers lists a sampler twice")
    cells = []
    for spec in specs:
        validate(base.replace(**{vary: spec}), metrics)
        for n in sorted(set(steps)):
            cells.append(Cell(base.replace(**{vary: spec, "steps": int(n)}), tuple(metrics), (), 0, DEFAULT_CELL_FN,
                              "compare"))  # fmt: skip
    results = run_cells_inline(cells)
    rows = [
        {"study": "compare", "cell_key": r.cell_key, "status": r.status, "message": r.message, "seed": r.cell["setting"]["seed"],
         "replicate": 0, "cell": r.cell, "outcome": r.outcome, "started_at": r.started_at, "finished_at": r.started_at,
         "duration_s": r.duration_s, "version": None, "git_commit": None, "host": r.host, "run_id": None, "attempts": 1}
        for r in results
    ]  # fmt: skip
    df = long_frame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    p = out / "compare.csv"
    df.to_csv(p, index=False)
    files.append(p)
    wide = wide_table(df, [vary, "steps"], list(metrics))
    files += write_table(wide, out / "table")
    fits = fit_rates(df, [Rate(m, "steps", by=(vary,)) for m in metrics])
    if not fits.empty:
        files += write_table(rates_display(fits), out / "rates")
    ok = df[df["status"] == "ok"]
    for m in metrics:
        if not ok.empty and (ok["metric"] == m).any():
            fig = plots.rate_figure(ok, "steps", m, hue=vary, fits=fits[fits["metric"] == m] if not fits.empty else None,
                                    title=f"{m} vs steps: {base.target}")  # fmt: skip
            files += plots.save(fig, out / f"{m}_vs_steps")
    cfg = {"vary": vary, "specs": list(specs), "steps": sorted(set(steps)), "metrics": list(metrics),
           "base": base.as_dict(), "cells": [{"cell_key": c.key(), "setting": c.setting.as_dict()} for c in cells]}  # fmt: skip
    (out / "config.json").write_text(json.dumps(jsonable(cfg), indent=1) + "\n")
    files.append(out / "config.json")
    return CompareResult(vary, df, wide, fits, files)
