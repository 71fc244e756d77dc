r"""Figures for reports (seaborn on the Agg backend; PNG and PDF).

- :func:`rate_figure`: a metric vs steps (or h, d, ε, n), one line per process or sampler, log–log,
  error bars, the fitted slope in the legend, a dashed reference line of the predicted slope, and the
  applicable bounds' curves (dotted, same colour);
- :func:`bound_figure`: measured vs bound for every (cell, bound), log–log with the diagonal
  ``measured = bound`` (a bound holds where its points lie below it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]
BOUND_STYLES = [":", "-.", (0, (5, 2, 1, 2, 1, 2)), (0, (1, 3))]
AXIS_LABELS = {
    "steps": "number of steps $N$",
    "h": "step size $h = (T-\\delta)/N$ (forward time)",
    "dim": "dimension $d$",
    "target.dim": "dimension $d$",
    "eps": "score error size $\\varepsilon$",
    "score.size": "score error size $\\varepsilon$",
    "samples": "sample size $n$",
    "horizon": "horizon $T$ (forward time)",
    "early_stop": "early stopping $\\delta$ (forward time)",
    "nfe": "score evaluations (NFE)",
}
METRIC_LABELS = {
    "w2": "$W_2$(target, generated) (data units)",
    "w2_sq": "$W_2^2$(target, generated) (squared data units)",
    "kl": "KL(target $\\|$ generated) (nats)",
    "kl_reverse": "KL(generated $\\|$ target) (nats)",
    "tv": "TV(target, generated) (in [0, 1])",
}


def axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name)


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def save(fig, path_stem: Path) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi) and ``<stem>.pdf``; close the figure."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, kw in ((".png", {"dpi": 150}), (".pdf", {})):
        p = path_stem.with_name(path_stem.name + ext)  # not with_suffix: stems may contain dots
        fig.savefig(p, bbox_inches="tight", **kw)
        out.append(p)
    plt.close(fig)
    return out


def _fmt_slope(fit: Mapping[str, Any]) -> str:
    s = f"slope {fit['slope']:+.2f}"
    if fit.get("slope_ci") is not None and all(np.isfinite(fit["slope_ci"])):
        half = (fit["slope_ci"][1] - fit["slope_ci"][0]) / 2
        s += f" ± {half:.2f}"
    return s


def rate_figure(
    data: pd.DataFrame,
    x: str,
    metric: str,
    hue: str | None = None,
    col: str | None = None,
    row: str | None = None,
    fits: pd.DataFrame | None = None,
    bounds: pd.DataFrame | None = None,
    predicted: float | None = None,
    logx: bool = True,
    logy: bool = True,
    title: str | None = None,
):
    """Metric vs ``x`` from a long table (columns ``x``, ``value``, ``stderr``, ``hue``, ``col``, ``row``).

    ``fits``: rows with the ``hue``/``col``/``row`` values, ``slope``, ``slope_ci``, ``intercept``
    (log–log, natural logs) to label and draw; ``bounds``: rows with ``x``, ``bound``, ``bound_value``
    and the facet columns, drawn dotted; ``predicted``: a reference slope drawn dashed in grey.
    """
    d = data[(data["metric"] == metric)].copy()
    d = d[np.isfinite(d["value"].astype(float))]
    if logy:
        d = d[d["value"] > 0]
    cols = sorted(d[col].dropna().unique(), key=_order) if col else [None]
    rows = sorted(d[row].dropna().unique(), key=_order) if row else [None]
    hues = sorted(d[hue].dropna().unique(), key=_order) if hue else [None]
    bound_names = sorted(bounds["bound"].unique()) if bounds is not None and not bounds.empty else []
    dashes = dict(zip(bound_names, BOUND_STYLES * (len(bound_names) // len(BOUND_STYLES) + 1)))
    palette = dict(zip(hues, sns.color_palette("colorblind", max(len(hues), 1))))
    markers = dict(zip(hues, MARKERS * (len(hues) // len(MARKERS) + 1)))
    fig, axes = plt.subplots(
        len(rows),
        len(cols),
        figsize=(4.6 * len(cols) + 1.2, 3.6 * len(rows) + 0.4),
        squeeze=False,
        sharex=True,
    )
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            ax = axes[i][j]
            panel = d
            if col:
                panel = panel[panel[col] == cv]
            if row:
                panel = panel[panel[row] == rv]
            for hv in hues:
                sub = panel if hue is None else panel[panel[hue] == hv]
                if sub.empty:
                    continue
                g = (
                    sub.groupby(x)
                    .agg(value=("value", "mean"), stderr=("stderr", "mean"), n=("value", "size"))
                    .reset_index()
                    .sort_values(x)
                )
                label = str(hv) if hue else metric
                fit = _match(fits, {hue: hv, col: cv, row: rv}) if fits is not None else None
                if fit is not None and np.isfinite(fit["slope"]):
                    label += f" ({_fmt_slope(fit)})"
                err = g["stderr"].fillna(0).to_numpy(dtype=float)
                ax.errorbar(
                    g[x],
                    g["value"],
                    yerr=err if np.any(err > 0) else None,
                    marker=markers[hv],
                    ms=4,
                    lw=1.4,
                    capsize=2,
                    color=palette[hv],
                    label=label,
                )
                if fit is not None and np.isfinite(fit["slope"]) and fit.get("intercept") is not None:
                    xs = np.asarray(sorted(g[x].astype(float)))
                    if fit.get("x_min") is not None:
                        xs = xs[(xs >= fit["x_min"]) & (xs <= fit["x_max"])]
                    if xs.size >= 2:
                        ax.plot(
                            xs,
                            np.exp(fit["intercept"]) * xs ** fit["slope"],
                            "-",
                            lw=0.8,
                            alpha=0.6,
                            color=palette[hv],
                        )
                if bounds is not None and not bounds.empty:
                    bsel = _select(bounds, {hue: hv, col: cv, row: rv})
                    for bname, bsub in bsel.groupby("bound"):
                        bsub = bsub.groupby(x)["bound_value"].mean().reset_index().sort_values(x)
                        bsub = bsub[np.isfinite(bsub["bound_value"]) & (bsub["bound_value"] > 0)]
                        if not bsub.empty:
                            ax.plot(
                                bsub[x],
                                bsub["bound_value"],
                                linestyle=dashes[bname],
                                lw=1.3,
                                color=palette[hv],
                                label=f"{bname} bound" + (f" ({hv})" if hue else ""),
                            )
            if predicted is not None and not panel.empty:
                _reference_slope(ax, panel, x, predicted)
            if logx:
                ax.set_xscale("log")
                _data_ticks(ax, panel[x])
            if logy:
                ax.set_yscale("log")
            ax.set_xlabel(axis_label(x))
            ax.set_ylabel(metric_label(metric))
            facet = ", ".join(f"{k} = {v}" for k, v in ((col, cv), (row, rv)) if k)
            if facet:
                ax.set_title(facet, fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, title=hue, title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _order(value):
    """Sort key: numbers numerically (1, 4, 16, 64), then everything else as text."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _data_ticks(ax, values: pd.Series) -> None:
    """On a log x axis, label the data's own values (e.g. 8, 16, 32 steps) rather than powers of ten."""
    xs = np.asarray(sorted(pd.to_numeric(values, errors="coerce").dropna().unique()), dtype=float)
    if 1 < xs.size <= 12 and np.all(xs > 0):
        ax.set_xticks(xs)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _reference_slope(ax, panel: pd.DataFrame, x: str, slope: float) -> None:
    xs = np.asarray(sorted(panel[x].astype(float).unique()))
    ys = panel["value"].astype(float)
    if xs.size < 2 or not np.all(xs > 0):
        return
    x0 = xs[0]
    y0 = float(np.exp(np.log(ys[ys > 0]).max())) if (ys > 0).any() else 1.0
    ax.plot(
        xs, y0 * 1.5 * (xs / x0) ** slope, "--", color="0.45", lw=1.0, label=f"reference slope {slope:+g}"
    )


def _select(df: pd.DataFrame, where: Mapping[Any, Any]) -> pd.DataFrame:
    for k, v in where.items():
        if k and k in df.columns:
            df = df[df[k] == v]
    return df


def _match(fits: pd.DataFrame, where: Mapping[Any, Any]):
    sel = _select(fits, where)
    return None if sel.empty else sel.iloc[0].to_dict()


def bound_figure(pairs: pd.DataFrame, title: str | None = None):
    """Measured vs bound (columns ``measured``, ``bound_value``, ``bound``, ``metric``), log–log, y = x."""
    d = pairs[np.isfinite(pairs["measured"]) & np.isfinite(pairs["bound_value"])]
    d = d[(d["measured"] > 0) & (d["bound_value"] > 0)]
    metrics = sorted(d["metric"].unique()) or ["-"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics) + 1, 4.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        sub = d[d["metric"] == m].copy()
        if not sub.empty:
            if "direction" in sub.columns:
                sub["bound"] = [
                    b + (" (lower bound)" if dr == "lower" else "")
                    for b, dr in zip(sub["bound"], sub["direction"])
                ]
            sns.scatterplot(data=sub, x="bound_value", y="measured", hue="bound", style="bound", ax=ax, s=28)
            lo = float(min(sub["measured"].min(), sub["bound_value"].min())) * 0.7
            hi = float(max(sub["measured"].max(), sub["bound_value"].max())) * 1.4
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.9, label="measured = bound")
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"bound on {m}")
        ax.set_ylabel(f"measured {metric_label(m)}")
        ax.grid(True, which="both", alpha=0.25)
        ax.set_title(f"{m}: upper bounds hold below the diagonal, lower bounds above", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
