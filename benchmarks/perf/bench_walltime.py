"""Wall time of a study run from the command line, and its speed-up from 1 to 2 Dask workers.

``python benchmarks/perf/bench_walltime.py [--study demo] [--profile quick] [--repeats 2]
[--out results/perf/walltime.md]`` runs ``python -m sgmbench run STUDY --profile PROFILE --workers W``
for W = 1 and 2 (alternating, ``--repeats`` times each), every run with a fresh SQLite store in a
temporary directory (so nothing is resumed), and times each subprocess with the wall clock. It writes a
Markdown table: the whole command's wall time (interpreter start, Dask LocalCluster start, cells,
store), the study's own time as the command reports it ("... in X s"), and the speed-up
median(W=1) / median(W=2). The machine's load average is recorded before and after: the two cores are
shared, so the speed-up is bounded by what the neighbours leave.

Not part of ``make perf`` (it starts Dask clusters); ``make bench``'s full wall time is timed separately.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


#: thread-count variables of the BLAS/OpenMP runtimes (``--blas-threads``)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run_once(
    study: str, profile: str, workers: int, blas_threads: int | None = None
) -> tuple[float, float | None, str]:
    """(wall seconds of the command, the study's own seconds or None, the command's summary line)."""
    with tempfile.TemporaryDirectory(prefix="sgmbench-walltime-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "sgmbench",
            "run",
            study,
            "--profile",
            profile,
            "--workers",
            str(workers),
            "--store",
            str(Path(tmp) / "store.sqlite"),
            "--no-progress",
        ]
        t0 = time.perf_counter()
        env = dict(os.environ)
        if blas_threads is not None:
            env.update({k: str(blas_threads) for k in THREAD_VARS})
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    lines = [ln for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]  # summary: stderr
    summary = next(
        (ln for ln in reversed(lines) if re.search(r"\bin [0-9.]+ s\b", ln)), lines[-1] if lines else ""
    )
    found = re.findall(r"\bin ([0-9.]+) s\b", summary)
    return wall, (float(found[-1]) if found else None), summary.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="demo")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "perf" / "walltime.md"))
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="set OMP/MKL/OPENBLAS_NUM_THREADS for the runs (default: inherit the environment)",
    )
    args = ap.parse_args(argv)

    load0 = os.getloadavg()
    runs: dict[int, list[tuple[float, float | None, str]]] = {1: [], 2: []}
    for r in range(args.repeats):
        for w in (1, 2) if r % 2 == 0 else (2, 1):
            runs[w].append(run_once(args.study, args.profile, w, args.blas_threads))
            wall, own, _ = runs[w][-1]
            print(f"repeat {r + 1}, workers {w}: {wall:.2f} s wall, study {own} s", flush=True)
    load1 = os.getloadavg()

    med = {w: statistics.median(x[0] for x in v) for w, v in runs.items()}
    own = {w: [x[1] for x in v if x[1] is not None] for w, v in runs.items()}
    own_med = {w: statistics.median(v) if v else None for w, v in own.items()}
    speedup = med[1] / med[2]
    own_speedup = own_med[1] / own_med[2] if own_med[1] and own_med[2] else None
    cmd = f"python -m sgmbench run {args.study} --profile {args.profile} --workers W"
    lines = [
        f"# Wall time of `{cmd}`",
        "",
        f"Measured by `benchmarks/perf/bench_walltime.py` on {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.cpu_count()} cores shared with other jobs (load average {load0[0]:.1f} before, "
        f"{load1[0]:.1f} after); a fresh store per run, {args.repeats} runs per worker count, alternating; "
        + (
            "BLAS/OpenMP threads inherited from the environment ("
            + ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in THREAD_VARS)
            + ")."
            if args.blas_threads is None
            else f"{', '.join(THREAD_VARS)} = {args.blas_threads} for every run."
        ),
        "",
        "| workers | wall time per run (s) | median wall (s) | study's own time per run (s) "
        "| median own (s) |",
        "|---|---|---|---|---|",
    ]
    for w in (1, 2):
        walls = ", ".join(f"{x[0]:.2f}" for x in runs[w])
        owns = ", ".join("?" if x[1] is None else f"{x[1]:.1f}" for x in runs[w])
        om = "?" if own_med[w] is None else f"{own_med[w]:.1f}"
        lines.append(f"| {w} | {walls} | {med[w]:.2f} | {owns} | {om} |")
    lines += [
        "",
        f"**Speed-up from 1 to 2 workers: {speedup:.2f}x in wall time** "
        + (f"({own_speedup:.2f}x in the study's own time)." if own_speedup else "."),
        "",
        "The wall time includes starting Python, importing sgmbench and starting the Dask LocalCluster "
        "(one single-threaded worker process per worker); the study's own time is what the command "
        "prints at the end (cells run and stored). A study whose cells take milliseconds, like the "
        "quick demo, is dominated by those fixed costs, so its speed-up is far below 2; the ideal 2x "
        "needs cells long enough to amortise them and two idle cores.",
        "",
        "Last lines printed: " + "; ".join(f"W={w}: `{runs[w][-1][2]}`" for w in (1, 2)),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
