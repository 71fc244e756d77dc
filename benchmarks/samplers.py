r"""Samplers: every sampler's measured order beside its declared order, and how loose the bounds are in $h$.

On a Gaussian target (non-isotropic, $d = 8$, eigenvalues $0.5 \dots 5$, mean $\mathbf 1$) with the exact
score every sampler's output law is Gaussian and computed exactly (:mod:`sgmbench.exact`), so $W_2$, KL
and TV carry no sampling noise and rates are measured to many digits. Every sampler starts from $p_T$
itself (``prior=exact``): the only error left is the discretisation's, and the probability-flow samplers'
prior floor (``papers/metrics-and-exact.md`` §8.1) cannot hide their order. Step counts run over more
than three decades ($N = 8 \dots 16384$, uniform grid on $[0, T]$, $T = 1$) because a one-decade slope can
mislead (§3.4 and §8.2: Euler–Maruyama on VE looks second order until $N \approx 10^4$); the extra report
shows the local slopes.

Declared orders are the weak orders of :func:`sgmbench.samplers.sampler_info` ($W_2$ and TV decay like
$h^p$, KL like $h^{2p}$ for a first-order perturbation of the law). The bounds of the study all assume
the exponential integrator; they are evaluated on its cells ($\delta = 0$ on the uniform grid; and
$\delta = 10^{-3}$ on Benton et al.'s grid, linear then exponentially decaying, for the early-stopped
KL/TV bounds; predictor-corrector is run there too, where its Langevin bias does not vanish): their
predicted exponent in $N$ beside the measured one, and the ratio bound/measured, which grows like
$N^{\text{predicted} - \text{measured}}$ where a bound is loose in the step size (``tightness.md``, written
by :func:`report_extras`: ``python -m benchmarks.samplers --store PATH``).
"""

from __future__ import annotations

import itertools

from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

TARGET = "gaussian:dim=8,mean=1.0,var=0.5,cond=10.0"
PROCESSES = ("ou", "vp-linear", "ve-exp")
SAMPLERS = (
    "euler-maruyama",
    "exponential-integrator",
    "ddpm-ancestral",
    "pf-euler",
    "pf-exponential",
    "pf-heun",
    "predictor-corrector",
)
EARLY_STOP = 1e-3
HORIZON = 1.0  # one T for every process (from p_T, T only sets the range of the grid)
BOUNDS = (
    "gnz2025-w2",
    "gnz2025-gaussian-lower",
    "chen2023-thm2",
    "conforti2025-kl",
    "strasman2025-kl",
    "benton2024-thm1",
    "llt2023-thm7.2",
)

AXIS = ("process", "sampler", "grid", "early_stop", "steps")


def rows(steps, stopped_samplers=("exponential-integrator", "predictor-corrector")):
    main = [(p, s, "uniform", 0.0, n) for p, s, n in itertools.product(PROCESSES, SAMPLERS, steps)]
    # delta > 0 on Benton et al.'s grid: the early-stopped bounds (Benton et al., Lee-Lu-Tan) on the
    # exponential integrator, and predictor-corrector (Langevin bias ~ snr^2 sigma_delta^2, 0 iff delta = 0)
    stopped = [
        (p, s, "benton", EARLY_STOP, n) for p, s, n in itertools.product(PROCESSES, stopped_samplers, steps)
    ]
    return main + stopped


QUICK = rows((16, 64, 256, 1024), ("exponential-integrator",))
FULL = rows(tuple(2**k for k in range(3, 15)))

STUDY = Study(
    axes={AXIS: QUICK},
    base=Setting(target=TARGET, horizon=HORIZON, prior="exact", reference="early-stopped"),
    metrics=("w2", "kl", "tv"),
    bounds=BOUNDS,
    rates=(
        Rate("w2", "steps", by=("process", "sampler", "grid")),
        Rate("tv", "steps", by=("process", "sampler", "grid")),
        Rate("kl", "steps", by=("process", "sampler", "grid")),
    ),
    tables=(Table("metrics", index=("process", "sampler", "grid", "early_stop", "steps")),),
    figures=(
        Figure("w2_vs_steps", metric="w2", x="steps", hue="sampler", col="process", row="early_stop"),
        Figure("tv_vs_steps", metric="tv", x="steps", hue="sampler", col="process", row="early_stop"),
        Figure("kl_vs_steps", metric="kl", x="steps", hue="sampler", col="process", row="early_stop"),
        Figure("measured_vs_bound", kind="bound", metric=""),
    ),
    profiles={"quick": {AXIS: QUICK}, "full": {AXIS: FULL}},
    cell_fn="benchmarks._fp_helpers:samplers_cell",
    report_fn="benchmarks.samplers:report_hook",
    source="benchmarks/samplers.py",
)


def report_extras(store, results_dir="results"):
    """Orders and bound-tightness tables, local-slope figures (``_fp_helpers.samplers_report_extras``)."""
    from benchmarks._fp_helpers import samplers_report_extras

    return samplers_report_extras(store, "samplers", results_dir)


def report_hook(store, directory):
    """``Study.report_fn``: ``sgmbench report`` passes ``results/<study>/``; the extras take its parent."""
    from pathlib import Path

    return report_extras(store, Path(directory).parent)


if __name__ == "__main__":
    from benchmarks._fp_helpers import extras_main

    extras_main("samplers", report_extras)
