r"""Forward processes (Gao–Nguyen–Zhu): steps needed for W2 <= eps per process, beside GNZ's table.

Gao, Nguyen, Zhu 2025 (JMLR 26(43), arXiv 2311.11003) bound $W_2$(generated, $p_0$) of the exponential
integrator for smooth strongly log-concave data and a general linear forward SDE
$dX = -f(t)X\,dt + g(t)\,dB$, and tabulate the iteration complexity $K(d, \varepsilon)$ of eight classes of
$(f, g)$ (``papers/bounds-wasserstein.md`` §1.5; table verified from the authors' README image). This
study measures, on Gaussian targets $N(\mu\mathbf 1, \lambda I_d)$ ($\mu = 1$, $\lambda = 1/2$) where the
generated law is exact:

- ``complexity``: for each process, sampler (exponential integrator, Euler–Maruyama), $d \in [2, 1024]$ and
  $\varepsilon$, the smallest number $K$ of uniform steps with exact $W_2 \le \varepsilon$ (bisection on $K$,
  relative precision 0.2%); the horizon $T$ by GNZ's rule: the initialisation term
  $\frac{\alpha_T^2}{\alpha_T^2 + m_0\sigma_T^2}\|x_0\|_{L^2}$ of their bound equals $\varepsilon/2$
  (solved with the process's SNR; VP: $\int_0^T\beta \approx \log(\sqrt d/\varepsilon)$, VE:
  $\sigma_T^2 \approx \sqrt d/\varepsilon$), prior $N(0, \sigma_T^2 I)$. Every process is used with its
  registry parameters (schedules defined on $[0, 1]$, extended beyond $t = 1$ by the same formula where
  the rule asks for $T > 1$);
- ``steps``: exact $W_2$ vs the number of steps (from $p_T$: discretisation error only) with the GNZ
  upper bound (``gnz2025-w2``, our explicit constants, $\propto h^{1/2}$) and the Gaussian lower bound's
  scaling (``gnz2025-gaussian-lower``, $\sqrt d\,h$);
- ``score``: $W_2$ vs a constant score bias of size $M$ (``perturbed:kind=bias``), $d = 4$, 4096 steps,
  from $p_T$ (so that the discretisation error stays below 7% of the bias's effect);
- ``horizon``: $W_2$ vs $T$ (through GNZ's initialisation factor), 4096 steps, prior $N(0, \sigma_T^2 I)$,
  beside the continuous-time init-only $W_2$;
- ``mixture``: two-component Gaussian mixtures in $d = 2$, one strongly log-concave (separation 1 <
  $2s$) and one not (separation 4; GNZ's assumption violated): sample-based $W_2$ (exact OT) with its
  noise floor.

Headline (``ranking.md``): forward processes ranked by the measured $K$ at the hardest setting beside
the ranking GNZ's table predicts; ``complexity_exponents.md``: fitted exponents of $K$ in $d$ and
$1/\varepsilon$
beside the table's. Both are written by :func:`report_extras` (``python -m benchmarks.forward_processes
--store PATH``), which ``sgmbench report`` does not call by itself.
"""

from __future__ import annotations

import itertools

from benchmarks._fp_helpers import (
    ALL_PROCESSES,
    factor_horizon,
    gaussian_spec,
    rule_horizon,
)
from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

MEAN, VAR = 1.0, 0.5
EI, EM = "exponential-integrator", "euler-maruyama"
SAMPLERS = (EI, EM)
TOL_SWEEPS = 0.1  # the epsilon whose horizon rule fixes T in the steps/score sweeps
SWEEP_DIM = 16  # dimension of the horizon sweep
SCORE_DIM = 4  # score sweep: a bias moves W2 by O(M) in any d, the discretisation by O(sqrt(d) h)
MIXTURES = (
    "mixture:dim=2,components=2,separation=1.0,var=0.5",  # log-concave: D = 1 < 2 s = 1.41
    "mixture:dim=2,components=2,separation=4.0,var=0.5",  # not log-concave
)

# One zipped axis lists every cell: the tasks have different shapes.
AXIS = (
    "task",
    "process",
    "sampler",
    "target",
    "horizon",
    "steps",
    "prior",
    "score",
    "samples",
    "tol",
    "init_factor",
)


def _row(
    task,
    process,
    sampler,
    target,
    horizon=None,
    steps=100,
    prior="gaussian",
    score="exact",
    samples=2000,
    tol=None,
    factor=None,
):
    return (task, process, sampler, target, horizon, steps, prior, score, samples, tol, factor)


def complexity_rows(processes, samplers, dims, tols):
    return [
        _row("complexity", p, s, gaussian_spec(d, MEAN, VAR), tol=t)
        for p, s, d, t in itertools.product(processes, samplers, dims, tols)
    ]


def steps_rows(processes, samplers, dims, steps):
    out = []
    for p, d in itertools.product(processes, dims):
        tg = gaussian_spec(d, MEAN, VAR)
        T = rule_horizon(p, tg, TOL_SWEEPS)
        out += [_row("steps", p, s, tg, T, n, "exact") for s, n in itertools.product(samplers, steps)]
    return out


def score_rows(processes, sizes, steps=4096):
    tg = gaussian_spec(SCORE_DIM, MEAN, VAR)
    return [
        _row(
            "score",
            p,
            EI,
            tg,
            rule_horizon(p, tg, TOL_SWEEPS),
            steps,
            "exact",
            f"perturbed:kind=bias,size={m!r}",
        )
        for p, m in itertools.product(processes, sizes)
    ]


def horizon_rows(processes, factors, steps=4096):
    tg = gaussian_spec(SWEEP_DIM, MEAN, VAR)
    return [
        _row("horizon", p, EI, tg, factor_horizon(p, tg, f), steps, "gaussian", factor=f)
        for p, f in itertools.product(processes, factors)
    ]


def mixture_rows(processes, samplers, steps, samples):
    out = []
    for tg, p in itertools.product(MIXTURES, processes):
        T = rule_horizon(p, tg, TOL_SWEEPS)
        out += [
            _row("mixture", p, s, tg, T, n, samples=samples) for s, n in itertools.product(samplers, steps)
        ]
    return out


QUICK = (
    complexity_rows(ALL_PROCESSES, SAMPLERS, (2, 32, 1024), (0.5, 0.1, 0.02))
    + steps_rows(("ve-exp", "vp-linear", "vp-cosine", "edm"), SAMPLERS, (8,), (8, 32, 128, 512))
    + score_rows(("ve-exp", "vp-linear", "vp-constant"), (0.03, 0.3, 1.0))
    + horizon_rows(("ve-exp", "vp-linear", "vp-constant"), (0.3, 0.03, 0.003))
    + mixture_rows(("vp-linear",), (EI,), (2, 8, 32), 1000)
)
FULL = (
    complexity_rows(ALL_PROCESSES, SAMPLERS, (2, 8, 32, 128, 512, 1024), (0.5, 0.2, 0.1, 0.05, 0.02))
    + steps_rows(ALL_PROCESSES, SAMPLERS, (2, 1024), tuple(2**k for k in range(3, 12)))
    + score_rows(ALL_PROCESSES, (0.03, 0.1, 0.3, 1.0))
    + horizon_rows(ALL_PROCESSES, (0.3, 0.1, 0.03, 0.01, 0.003, 0.001))
    + mixture_rows(("vp-linear", "ve-exp"), SAMPLERS, (2, 4, 8, 16, 32, 64), 2000)
)

STUDY = Study(
    axes={AXIS: QUICK},
    base=Setting(target=gaussian_spec(8, MEAN, VAR), process="vp-linear", grid="uniform", reference="data"),
    metrics=("w2",),
    bounds=("gnz2025-w2", "gnz2025-gaussian-lower"),
    rates=(
        Rate("steps_needed", "dim", by=("process", "sampler", "tol"), tail=4),
        Rate("steps_needed", "tol", by=("process", "sampler", "dim")),
        Rate("w2", "steps", predicted=-1.0, by=("process", "sampler", "dim"), tail=4),
        Rate("w2_score", "eps", predicted=1.0, by=("process",), bound="gnz2025-w2"),
        Rate("w2_horizon", "init_factor", predicted=1.0, by=("process",), tail=3),
        Rate("w2_mixture", "steps", predicted=-1.0, by=("target", "process", "sampler")),
    ),
    tables=(
        Table(
            "complexity",
            index=("process", "sampler", "dim", "tol"),
            metrics=("steps_needed", "horizon_T", "w2_at_K", "init_w2"),
        ),
        Table("w2_vs_steps", index=("process", "sampler", "dim", "horizon", "steps"), metrics=("w2",)),
        Table("w2_vs_score_error", index=("process", "horizon", "eps"), metrics=("w2_score",)),
        Table(
            "w2_vs_horizon", index=("process", "init_factor", "horizon"), metrics=("w2_horizon", "init_w2_ct")
        ),
        Table(
            "mixtures", index=("target", "process", "sampler", "horizon", "steps"), metrics=("w2_mixture",)
        ),
    ),
    # Generic figures where they are legible; report_extras draws the per-process panels (W2 vs steps with
    # the bounds, vs M, vs T), K vs sqrt(d)/eps and the mixtures with their noise floor.
    figures=(
        Figure(
            "steps_needed_vs_dim", metric="steps_needed", x="dim", hue="process", col="sampler", row="tol"
        ),
        Figure(
            "w2_mixture_vs_steps", metric="w2_mixture", x="steps", hue="process", col="target", row="sampler"
        ),
        Figure("measured_vs_bound", kind="bound", metric=""),
    ),
    profiles={"quick": {AXIS: QUICK}, "full": {AXIS: FULL}},
    cell_fn="benchmarks._fp_helpers:fp_cell",
    report_fn="benchmarks.forward_processes:report_hook",
    source="benchmarks/forward_processes.py",
)


def report_extras(store, results_dir="results"):
    """The ranking and exponent tables and the per-process figures (``_fp_helpers.fp_report_extras``)."""
    from benchmarks._fp_helpers import fp_report_extras

    return fp_report_extras(store, "forward-processes", results_dir)


def report_hook(store, directory):
    """``Study.report_fn``: ``sgmbench report`` passes ``results/<study>/``; the extras take its parent."""
    from pathlib import Path

    return report_extras(store, Path(directory).parent)


if __name__ == "__main__":
    from benchmarks._fp_helpers import extras_main

    extras_main("forward-processes", report_extras)
