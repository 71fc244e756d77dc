"""Turn a pytest-benchmark JSON file into ``results/perf/``: a Markdown table and log–log plots.

Every benchmark in ``benchmarks/perf/`` records, in ``benchmark.extra_info``, the numbers that make it
comparable across machines: a ``ratio`` against a baseline measured in the same run (e.g. our exact
W2 over bare ``ot.emd2`` on the same cost matrix), the ``goal`` it is held to, and ``met``; sweeps over
a size record it as ``size`` (``n`` or ``d``) so that cost exponents can be fitted here.

Usage: ``python -m sgmbench.perf_report results/perf/benchmark.json results/perf``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sgmbench.errors import SgmbenchError


def load_benchmarks(path: str | Path) -> pd.DataFrame:
    """One row per benchmark: group, name, median/mean/stddev seconds, rounds and its extra_info."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SgmbenchError(f"cannot read benchmark file {path}: {exc}") from None
    rows = []
    for bench in data.get("benchmarks", []):
        stats = bench.get("stats", {})
        extra = bench.get("extra_info", {}) or {}
        rows.append(
            {
                "group": bench.get("group") or bench.get("fullname", "").split("::")[0],
                "name": bench.get("name"),
                "median_s": stats.get("median"),
                "mean_s": stats.get("mean"),
                "stddev_s": stats.get("stddev"),
                "rounds": stats.get("rounds"),
                **{f"extra.{k}": v for k, v in extra.items()},
            }
        )
    machine = data.get("machine_info", {})
    frame = pd.DataFrame(rows)
    frame.attrs["machine"] = {k: machine.get(k) for k in ("node", "processor", "machine", "python_version")}
    frame.attrs["datetime"] = data.get("datetime")
    return frame


def fit_cost_exponent(sizes: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of log(seconds) on log(size) and its standard error (needs >= 3 sizes)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float))
    if len(x) < 3:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    se = math.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
    return float(slope), se


def write_report(frame: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write ``perf.md`` (and ``perf.csv``, log–log PNG/PDF plots per size sweep) into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "perf.csv", index=False)
    lines = ["# Performance (`make perf`)", ""]
    machine = frame.attrs.get("machine", {})
    if machine:
        lines += [f"Machine: {machine}; run at {frame.attrs.get('datetime')}.", ""]
    lines += [
        "Ratios are against a baseline measured in the same run on the same machine.",
        "",
        "| group | benchmark | median | ratio | baseline | goal | met | note |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(row, key):
        v = row.get(f"extra.{key}")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    for _, row in frame.iterrows():
        med = row["median_s"]
        med_s = f"{med * 1e3:.3g} ms" if med < 1 else f"{med:.3g} s"
        lines.append(
            f"| {row['group']} | {row['name']} | {med_s} | {cell(row, 'ratio')} | {cell(row, 'baseline')} "
            f"| {cell(row, 'goal')} | {cell(row, 'met')} | {cell(row, 'note')} |"
        )
    if "extra.size" in frame.columns:
        lines += ["", "## Cost exponents (seconds ∝ size^k)", "", "| group | k | ± se |", "|---|---|---|"]
        sweeps = frame.dropna(subset=["extra.size"])
        for group, sub in sweeps.groupby("group"):
            sub = sub.sort_values("extra.size")
            k, se = fit_cost_exponent(sub["extra.size"].to_numpy(float), sub["median_s"].to_numpy(float))
            lines.append(f"| {group} | {k:.2f} | {se:.2f} |")
            fig, ax = plt.subplots(figsize=(4.5, 3.5))
            sns.lineplot(data=sub, x="extra.size", y="median_s", marker="o", ax=ax)
            ax.set(xscale="log", yscale="log", xlabel="size (n or d)", ylabel="median time (s)")
            ax.set_title(f"{group}: slope {k:.2f}")
            fig.tight_layout()
            for ext in ("png", "pdf"):
                fig.savefig(out / f"{group}.{ext}")
            plt.close(fig)
    (out / "perf.md").write_text("\n".join(lines) + "\n")
    return out / "perf.md"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m sgmbench.perf_report BENCHMARK_JSON OUT_DIR", file=sys.stderr)
        return 2
    try:
        path = write_report(load_benchmarks(argv[0]), argv[1])
    except SgmbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
