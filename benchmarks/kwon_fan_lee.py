r"""Kwon–Fan–Lee 2022: W2 of a trained DDPM against the score-matching loss, and the Cor. 1 line.

Reproduces the experiments of Kwon, Fan, Lee, *Score-based generative modeling secretly minimizes the
Wasserstein distance* (NeurIPS 2022, arXiv 2212.06359, Sec. 5; ``shared/papers/bounds-wasserstein.md``
§2.5), on the paper's discrete DDPM (10 steps, sigmoid $\beta$ from $10^{-5}$ to $10^{-2}$; mapped exactly to
our VP process ``ddpm-sigmoid``, see :mod:`benchmarks._kfl_helpers`):

- **Fig. 2** (``experiment=training-run``, ``regulariser=none``): along one training run that first
  *maximises* the denoising loss for ``ascent_steps`` AdamW steps and then minimises it, at log-spaced
  checkpoints: $J_{DSM}$ and $J_{SM}$ (KFL's discrete sums), $W_2(p_0, q_0)$ of the 10-step DDPM started from
  $q_T = p_T$ (exact OT on ``samples`` points, with its noise floor; and sliced $W_2$, the quantity of the
  authors' notebook), the one-sided Lipschitz estimates $\hat L_{s}(i)$ of the current network and the
  Cor. 1 intercept $\tfrac12\log(2\int g^2I^2)$. Datasets: one Gaussian cluster $N(0, 0.1I)$ (not clipped to
  $[-1,1]$: the clip removes 0.3 % of the mass), two moons (``make_moons(noise=0.1)/2``), four clusters
  $N((\pm.5,\pm.5), 0.01I)$ (KFL's report; the notebook's clusters are 8× tighter).
  **Verdict**: for every checkpoint, is $\log W_2 \le \tfrac12\log J + c_\theta$ with the intercept
  $c_\theta$ *of that checkpoint's network* (Cor. 1 proper), and by how much; also against the single line of
  the final network (the paper's plot) and with $J_{SM}$ (the theorem's $J$; KFL plot $J_{DSM} \ge J_{SM}$).
- **Fig. 3** (``regulariser=spectral`` / ``clip``): spectral normalisation of every $x$-path layer and
  weight clipping at 0.1 (KFL's ``SpectralConditionalModel`` and ``clamp_(-0.1, 0.1)``): their intercept and
  converged loss against the unregularised run (four clusters; also two moons in ``full``).
- **Fig. 4** (``experiment=horizon``, four clusters, $q_T = N(0, I)$ as in KFL): the offset
  $I(T)\,W_2(p_T, q_T)$ against the horizon $T$ = number of DDPM steps (the sigmoid schedule stretched over
  $T$ steps, so $\int_0^T\tilde\beta \approx T/200$), beside the measured $W_2(p_0, q_0)$ and the full Cor. 1
  bound; $\hat L_s(t)$ along the longest run.

**Training** (:func:`sgmbench.training.train_score`; deviations from KFL for a CPU budget, each checked to
matter): MLP 3×64, SiLU (KFL: softplus, which after the ascent phase stayed on the "predict zero" plateau for
the whole short run), $\varepsilon$-prediction with the suite's noise-level conditioning (KFL: a per-step
embedding gate), batch 128, AdamW (weight decay 0.01), times uniform on $[1, N]$ with the plain
$\varepsilon$-MSE (minimiser: the true score, as for KFL's $\beta/(1-\bar\alpha)$ weighting). Ascent: lr
$3\cdot10^{-4}$ until the batch loss reaches 1000 ($\log J \approx 7$; KFL: 10 epochs), then descent at lr
$3\cdot10^{-3}$ with cosine decay for ``descent_steps`` (KFL: lr $10^{-3}$, ~39 000 steps). Gradient norms are
clipped at 1: without it Adam's second moments, inflated by the exploding ascent gradients, stall the
descent for ~1000 steps.

The generic report draws the tables; the figures above are drawn by :func:`make_figures` (run
``python -m benchmarks.kwon_fan_lee figures --store PATH``), which needs the checkpoint histories kept in the
cells' ``info``.

Caveats (also in ``VERDICT.md``): the theorem bounds the *continuous-time* model; like KFL we compare it
with the 10-step DDPM, whose discretisation error (``w2_exact_score``: the DDPM driven by the exact score)
the theorem does not cover; at our sample sizes it is within the OT noise floor. $\hat L_s$ is a max over
finitely many points (a lower estimate of the sup), so
the intercepts are lower estimates of the theorem's. Plug-in OT $W_2$ is biased upward by its noise floor,
which only makes a point below the line more convincing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sgmbench.setting import Setting
from sgmbench.study import Figure, Study, Table

try:  # registers the ddpm-sigmoid process
    from benchmarks import _kfl_helpers as H
except ImportError:  # loaded as a file module
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _kfl_helpers as H

TARGETS = {
    "gaussian:dim=2,mean=0,var=0.1": "Gaussian cluster",
    "two-moons": "two moons",
    "four-clusters": "four clusters",
}
FIG4_TARGET = "four-clusters"
HORIZONS_FULL = (10, 50, 100, 200, 500, 1000)
HORIZONS_QUICK = (10, 100)


def _proc_axis(horizons):
    return [(H.ddpm_process(n), n, float(n)) for n in horizons]


def _where(p) -> bool:
    exp = p["experiment"]
    if exp == "training-run":
        return p["steps"] == 10 and (
            p["regulariser"] == "none" or p["target"] in p["fig3_targets"].split("|")
        )
    return p["target"] == FIG4_TARGET and p["regulariser"] == "none"


STUDY = Study(
    title="Kwon-Fan-Lee 2022: W2 vs the score-matching loss, the Cor. 1 line, regularisers, horizon",
    axes={
        "experiment": ["training-run", "horizon"],
        "target": list(TARGETS),
        "regulariser": ["none", "spectral", "clip"],
        ("process", "steps", "horizon"): _proc_axis(HORIZONS_QUICK),
        "fig3_targets": ["four-clusters"],
        "ascent_steps": [150],
        "descent_steps": [600],
        "horizon_descent_steps": [800],
        "records": [16],
        "record_samples": [512],
    },
    base=Setting(
        target="four-clusters",
        process=H.ddpm_process(10),
        horizon=10.0,
        sampler="ddpm-ancestral",
        grid="uniform",
        steps=10,
        prior="exact",
        score="learned",
        samples=1024,
    ),
    metrics=("w2",),
    where=_where,
    cell_fn="benchmarks.kwon_fan_lee:kfl_cell",
    report_fn="benchmarks.kwon_fan_lee:report_hook",
    tables=(
        Table(
            "fig2_verdict",
            index=("experiment", "target", "regulariser"),
            metrics=(
                "points",
                "resolved_points",
                "frac_below_cor1_dsm",
                "violations_cor1_dsm",
                "min_margin_cor1_dsm",
                "frac_below_cor1_sm",
                "violations_cor1_sm",
                "unresolved_cor1_sm",
                "min_margin_cor1_sm",
                "min_margin_resolved_cor1_sm",
                "frac_below_paper_line",
                "violations_paper_line",
                "min_margin_paper_line",
            ),
        ),
        Table(
            "final_model",
            index=("experiment", "target", "regulariser", "steps"),
            metrics=(
                "j_dsm",
                "j_sm",
                "intercept",
                "ls_max",
                "w2",
                "w2_floor",
                "sliced_w2",
                "sliced_w2_128",
                "w2_exact_score",
                "cor1_bound",
                "thm1_bound",
            ),
        ),
        Table(
            "fig4_offset",
            index=("experiment", "steps"),
            metrics=(
                "integrated_beta",
                "log_I_T",
                "w2_pT_qT",
                "offset",
                "score_term",
                "cor1_total_T",
                "w2_q0_standard_prior",
            ),
        ),
    ),
    figures=(Figure("measured_vs_bound", kind="bound", metric=""),),
    profiles={
        "quick": {},
        "full": {
            ("process", "steps", "horizon"): _proc_axis(HORIZONS_FULL),
            "fig3_targets": ["four-clusters|two-moons"],
            "ascent_steps": [300],
            "descent_steps": [1500],
            "horizon_descent_steps": [1500],
            "records": [27],
            "record_samples": [512],
            "samples": [2048],
        },
    },
)


# ------------------------------------------------------------------------------------------------
# Cell functions
# ------------------------------------------------------------------------------------------------
def kfl_cell(cell) -> dict[str, Any]:
    """The study's cell function: a training run (Figs. 2, 3) or a horizon point (Fig. 4)."""
    exp = cell.extra("experiment")
    if exp == "training-run":
        return training_run(cell)
    if exp == "horizon":
        return horizon_point(cell)
    raise ValueError(f"unknown experiment {exp!r}")


def _network(dim: int, regulariser: str):
    from sgmbench.networks import NetworkConfig

    return NetworkConfig(
        dim=dim, width=64, depth=3, activation="silu", spectral_norm=regulariser == "spectral"
    )


def _train_config(cell, *, ascent: int, descent: int, horizon: float, eval_every: int):
    from sgmbench.training import TrainConfig

    reg = cell.extra("regulariser", "none")
    return TrainConfig(
        steps=descent,
        ascent_steps=ascent,
        ascent_lr=3e-4,
        ascent_max_loss=float(cell.extra("ascent_max_loss", 1000.0)),
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        optimizer="adamw",
        weight_decay=0.01,
        grad_clip=1.0,
        weight_clip=0.1 if reg == "clip" else None,
        weighting="sigma2",
        time_sampling="uniform",
        t_min=1.0,
        horizon=horizon,
        eval_every=eval_every,
        num_eval_times=8,
        num_eval_per_time=16,
        seed=int(cell.seed) % (2**31),
        eval_seed=7,
    )


def _measure(
    score, target, process, ev, *, n: int, seed: int, points: int, initial: str = "exact", fast: bool = False
) -> dict:
    """Everything KFL plot at one checkpoint: discrete losses, L_s, intercept, W2 (exact OT, sliced)."""
    import torch

    from sgmbench.training import one_sided_lipschitz

    N = process.num_steps
    out: dict[str, Any] = dict(H.discrete_losses(score, ev))
    ls = one_sided_lipschitz(
        score, list(range(1, N + 1)), target, process, num_points=points, num_pairs=points, seed=seed + 11
    )
    out["ls"] = [float(v) for v in ls.value]
    out.update(H.kfl_constants(ls.value, process.rates, out.get("b")))
    gen = torch.Generator().manual_seed(seed)
    x, failure = H.ddpm_sample(score, process, n, gen, initial=initial, target=target)
    if x is None or not bool(torch.isfinite(x).all()):
        out["failure"] = failure or "non-finite samples"
        return out
    ref = target.sample(n, generator=torch.Generator().manual_seed(seed + 1))  # the same at every checkpoint
    recs = H.w2_records(x, target, seed=seed + 1, sliced_n=128, reference=ref, fast=fast)
    for k, r in recs.items():
        out[k] = r["value"]
        out[k + "_se"] = r.get("stderr")
        out[k + "_floor"] = r.get("floor")
        out[k + "_meaningful"] = bool(r.get("meaningful", True))
    return out


def _log_bound(j: float | None, intercept: float) -> float:
    return 0.5 * math.log(j) + intercept if j is not None and j > 0 else float("nan")


def verdicts(points: list[dict], final_intercept: float) -> dict[str, float]:
    r"""Checkpoints against the Cor. 1 line: the fraction below it, the resolved violations (above the line
    with a $W_2$ resolvable above its noise floor), the unresolved ones (above the line but within the
    noise floor: the plug-in OT estimate is biased upward there, so nothing can be concluded) and the
    smallest margin $\log$ bound $- \log W_2$ (over all points and over resolved points)."""
    out: dict[str, float] = {}
    rows = [p for p in points if _num(p.get("w2")) > 0]
    out["points"] = float(len(rows))
    if not rows:
        return out
    lw = np.log([_num(p["w2"]) for p in rows])
    resolved = np.array([bool(p.get("w2_meaningful", True)) for p in rows])
    out["resolved_points"] = float(resolved.sum())
    cases = {
        "cor1_dsm": [_log_bound(_num(p["j_dsm"]), _num(p["intercept"])) for p in rows],
        "cor1_sm": [_log_bound(_num(p.get("j_sm")), _num(p["intercept"])) for p in rows],
        "paper_line": [_log_bound(_num(p["j_dsm"]), final_intercept) for p in rows],
    }
    for name, lb in cases.items():
        lb = np.asarray(lb, float)
        ok = np.isfinite(lb)
        if not ok.any():
            continue
        margin = lb[ok] - lw[ok]
        res = resolved[ok]
        out[f"frac_below_{name}"] = float(np.mean(margin >= 0))
        out[f"violations_{name}"] = float(np.sum((margin < 0) & res))
        out[f"unresolved_{name}"] = float(np.sum((margin < 0) & ~res))
        out[f"min_margin_{name}"] = float(margin.min())
        out[f"median_margin_{name}"] = float(np.median(margin))
        if res.any():
            out[f"min_margin_resolved_{name}"] = float(margin[res].min())
    return out


def _exact_score_w2(target, process, n: int, seed: int, initial: str = "exact") -> dict:
    """W2 of the DDPM driven by the *exact* score: the discretisation error KFL's continuous bound omits."""
    import torch

    from sgmbench.scores import build_score

    score = build_score("exact", target, process)
    gen = torch.Generator().manual_seed(seed)
    x, _ = H.ddpm_sample(score, process, n, gen, initial=initial, target=target)
    return H.w2_records(x, target, seed=seed + 1, sliced_n=None)["w2"]


def _bound_row(
    name: str,
    value: float,
    measured: float,
    terms: dict,
    compares: str,
    *,
    resolvable: bool = True,
    note: str = "",
) -> dict:
    """A row of the store's bound table. ``holds`` is ``None`` where the measured $W_2$ exceeds the bound but
    is not resolvable above its noise floor (the plug-in OT estimate is biased upward by the floor)."""
    holds = None
    if np.isfinite(value) and np.isfinite(measured):
        holds = bool(measured <= value)
        if not holds and not resolvable:
            holds = None
            note = "; ".join(x for x in (note, "measured W2 within its OT noise floor: unresolved") if x)
    return {
        "bound": name,
        "metric": "w2",
        "reference": "data",
        "compares": compares,
        "direction": "upper",
        "applicable": bool(np.isfinite(value)),
        "value": float(value),
        "terms": terms,
        "failed": [],
        "measured": float(measured),
        "measured_key": "w2",
        "ratio": float(value / measured) if measured > 0 and np.isfinite(value) else None,
        "holds": holds,
        "constant_unspecified": False,
        "vacuous": False,
        "provenance": "verified (secondary source); discrete application as in KFL's notebook",
        "notes": note,
    }


def training_run(cell) -> dict[str, Any]:
    """Figs. 2–3: train with gradient ascent then descent, measuring at log-spaced checkpoints."""

    from sgmbench.processes import get_process
    from sgmbench.targets import get_target
    from sgmbench.training import train_score

    s = cell.setting
    target, process = get_target(s.target), get_process(s.process)
    N = process.num_steps
    ascent, descent = int(cell.extra("ascent_steps")), int(cell.extra("descent_steps"))
    k = int(cell.extra("records", 20))
    n_rec = int(cell.extra("record_samples", 512))
    eval_every = 5
    ev = H.make_discrete_eval(target, process, m=256, seed=1234)
    # checkpoints: ~k/3 during ascent (uniform), ~2k/3 during descent (geometric in the descent step)
    asc_every = 10  # the ascent grows log J about linearly in the step and stops at ascent_max_loss
    desc_marks = (
        sorted({int(v) for v in np.geomspace(eval_every, descent, max(2, 2 * k // 3))}) if descent else []
    )
    state = {"last_ascent": 0, "marks": list(desc_marks)}
    points: list[dict] = []
    seed = int(cell.seed) % (2**31)

    def callback(rec: dict, score) -> None:
        phase, step = rec["phase"], int(rec["step"])
        if phase in ("init", "ascent"):
            state["last_ascent"] = step
            # in-loop ascent records fall on multiples of eval_every; the record after an early stop does not
            take = phase == "init" or step % asc_every == 0 or step == ascent or step % eval_every != 0
        else:
            rel = step - state["last_ascent"]
            take = False
            while state["marks"] and state["marks"][0] <= rel:
                state["marks"].pop(0)
                take = True
        if not take:
            return
        m = _measure(score, target, process, ev, n=n_rec, seed=seed + 101, points=64, fast=True)
        m.update(step=step, phase=phase)
        points.append(m)

    res = train_score(
        target,
        process,
        _network(target.dim, cell.extra("regulariser", "none")),
        _train_config(cell, ascent=ascent, descent=descent, horizon=float(N), eval_every=eval_every),
        callback=callback,
    )
    final = _measure(res.score, target, process, ev, n=s.samples, seed=seed + 202, points=256)
    final_intercept = final["intercept"]
    v = verdicts(points, final_intercept)
    exact = _exact_score_w2(target, process, s.samples, seed + 303)

    j_sm = final.get("j_sm")
    cor1 = math.exp(_log_bound(j_sm, final_intercept)) if j_sm else float("nan")
    thm1 = math.exp(final["log_thm1_score"]) if "log_thm1_score" in final else float("nan")
    w2f = final.get("w2", float("nan"))
    metrics = {
        "w2": H.plain_record(
            w2f,
            stderr=final.get("w2_se"),
            floor=final.get("w2_floor"),
            estimator="ot-exact (POT emd2) vs a fresh target sample",
            n=s.samples,
        ),
        "sliced_w2": H.plain_record(
            final.get("sliced_w2", float("nan")),
            stderr=final.get("sliced_w2_se"),
            floor=final.get("sliced_w2_floor"),
            estimator="sliced (200 projections)",
        ),
        "sliced_w2_128": H.plain_record(
            final.get("sliced_w2_128", float("nan")),
            stderr=final.get("sliced_w2_128_se"),
            floor=final.get("sliced_w2_128_floor"),
            estimator="sliced, 128 points, 50 projections (KFL notebook)",
        ),
        "w2_floor": H.plain_record(final.get("w2_floor") or float("nan"), note="OT noise floor at this n"),
        "w2_exact_score": H.plain_record(
            exact["value"],
            stderr=exact.get("stderr"),
            floor=exact.get("floor"),
            note="10-step DDPM with the exact score: discretisation error",
        ),
        "j_dsm": H.plain_record(final["j_dsm"], stderr=final["j_dsm_se"]),
        "j_sm": H.plain_record(j_sm if j_sm is not None else float("nan"), stderr=final.get("j_sm_se")),
        "intercept": H.plain_record(
            final_intercept, note="1/2 log(2 int g^2 I^2), L_s estimated (lower estimate)"
        ),
        "ls_max": H.plain_record(max(final["ls"])),
        "cor1_bound": H.plain_record(cor1, note="sqrt(2 int g^2 I^2 J_SM), q_T = p_T"),
        "thm1_bound": H.plain_record(thm1, note="int g^2 I sqrt(b), q_T = p_T"),
    }
    for name, val in v.items():
        metrics[name] = H.plain_record(val, exact=True)
    compares = (
        "W2(p_0, q_0) of KFL's 10-step DDPM with q_T = p_T (the paper's discrete application of the theorem)"
    )
    resolvable = bool(final.get("w2_meaningful", True))
    bounds = [
        _bound_row(
            "kfl2022-cor1",
            cor1,
            w2f,
            {"intercept": final_intercept, "J_SM": j_sm},
            compares,
            resolvable=resolvable,
        ),
        _bound_row("kfl2022-thm1", thm1, w2f, {"log_I_T": final["log_I_T"]}, compares, resolvable=resolvable),
    ]
    history = [
        {
            k2: p.get(k2)
            for k2 in (
                "step",
                "phase",
                "j_dsm",
                "j_sm",
                "w2",
                "w2_floor",
                "w2_meaningful",
                "sliced_w2",
                "sliced_w2_floor",
                "sliced_w2_128",
                "intercept",
                "log_I_T",
                "failure",
            )
        }
        for p in points
    ]
    info = {
        "nfe": N,
        "history": history,
        "final": {
            k2: final.get(k2)
            for k2 in (
                "ls",
                "log_I",
                "b",
                "intercept",
                "j_dsm",
                "j_sm",
                "w2",
                "w2_floor",
                "sliced_w2",
                "log_thm1_score",
            )
        },
        "train_seconds": res.seconds,
        "ascent_stopped_at": state["last_ascent"],
        "loss_history": [{k2: r.get(k2) for k2 in ("step", "phase", "dsm", "sm")} for r in res.history[::4]],
    }
    return {"setting": {**s.as_dict(), "dim": target.dim}, "metrics": metrics, "bounds": bounds, "info": info}


def horizon_point(cell) -> dict[str, Any]:
    """Fig. 4: train for horizon T (= number of DDPM steps), then the offset I(T) W2(p_T, N(0, I))."""
    import torch

    from sgmbench.metrics import estimate
    from sgmbench.processes import get_process
    from sgmbench.targets import get_target
    from sgmbench.training import train_score

    s = cell.setting
    target, process = get_target(s.target), get_process(s.process)
    N = process.num_steps
    seed = int(cell.seed) % (2**31)
    descent = int(cell.extra("horizon_descent_steps"))
    res = train_score(
        target,
        process,
        _network(target.dim, "none"),
        _train_config(cell, ascent=0, descent=descent, horizon=float(N), eval_every=max(descent, 1)),
    )
    ev = H.make_discrete_eval(target, process, m=max(32, 2560 // N), seed=1234)
    points = max(32, min(256, 4096 // N))
    m = _measure(
        res.score, target, process, ev, n=s.samples, seed=seed + 202, points=points, initial="standard-normal"
    )
    # W2(p_T, q_T) with q_T = N(0, I): exact OT between samples of both
    gen = torch.Generator().manual_seed(seed + 404)
    pT = target.noised(process, float(N)).sample(s.samples, generator=gen)
    ref = torch.randn(s.samples, target.dim, generator=gen, dtype=torch.float64)
    rec = estimate("w2", pT, None, estimator="ot-exact", reference=ref, floor=False)
    w2T = float(rec.value)
    log_offset = m["log_I_T"] + math.log(w2T)
    score_term = math.exp(_log_bound(m.get("j_sm"), m["intercept"])) if m.get("j_sm") else float("nan")
    offset = math.exp(log_offset)
    cor1 = score_term + offset
    w2 = m.get("w2", float("nan"))
    metrics = {
        "w2": H.plain_record(
            w2, stderr=m.get("w2_se"), floor=m.get("w2_floor"), note="q_T = N(0, I) (KFL Fig. 4)"
        ),
        "offset": H.plain_record(offset, note="I(T) W2(p_T, q_T), q_T = N(0, I)"),
        "log_I_T": H.plain_record(m["log_I_T"]),
        "w2_pT_qT": H.plain_record(
            w2T,
            stderr=rec.stderr if math.isfinite(rec.stderr) else None,
            note="exact OT between samples of p_T and N(0, I)",
        ),
        "score_term": H.plain_record(score_term, note="sqrt(2 int g^2 I^2 J_SM)"),
        "cor1_bound": H.plain_record(cor1),
        "cor1_total_T": H.plain_record(cor1, note="score term + offset"),
        "w2_q0_standard_prior": H.plain_record(w2, stderr=m.get("w2_se"), floor=m.get("w2_floor")),
        "j_sm": H.plain_record(m.get("j_sm") or float("nan")),
        "j_dsm": H.plain_record(m["j_dsm"]),
        "intercept": H.plain_record(m["intercept"]),
        "integrated_beta": H.plain_record(float(process.cumulative[-1])),
    }
    compares = "W2(p_0, q_0) of the T-step DDPM with q_T = N(0, I) (KFL Fig. 4)"
    bounds = [
        _bound_row(
            "kfl2022-cor1",
            cor1,
            w2,
            {"offset": offset, "score": score_term},
            compares,
            resolvable=bool(m.get("w2_meaningful", True)),
        )
    ]
    info = {"nfe": N, "ls": m["ls"], "log_I": m["log_I"], "train_seconds": res.seconds}
    return {"setting": {**s.as_dict(), "dim": target.dim}, "metrics": metrics, "bounds": bounds, "info": info}


# ------------------------------------------------------------------------------------------------
# Figures (drawn from the stored cells; the generic report does not know them)
# ------------------------------------------------------------------------------------------------
def _rows(source) -> list[dict]:
    from sgmbench.store import Store

    if isinstance(source, (str, Path)):
        with Store(source, readonly=True) as st:
            return st.rows("kwon-fan-lee")
    if hasattr(source, "rows"):
        return source.rows("kwon-fan-lee")
    return [r for r in source if r.get("study", "kwon-fan-lee") == "kwon-fan-lee"]


def make_figures(results_dir, source) -> list[Path]:
    """Draw Figs. 2–4 into ``results_dir`` (``results/kwon-fan-lee``) from the study's stored cells
    (``source``: a :class:`~sgmbench.store.Store`, a store path, or its ``rows()``)."""
    import matplotlib.pyplot as plt

    from sgmbench import plots

    out_dir = Path(results_dir)
    rows = [r for r in _rows(source) if r["status"] == "ok" and r["outcome"]]
    runs = [r for r in rows if r["cell"]["extras"].get("experiment") == "training-run"]
    hor = [r for r in rows if r["cell"]["extras"].get("experiment") == "horizon"]
    files: list[Path] = []
    if runs:
        files += _fig2(runs, out_dir, plots, plt)
        files += _fig3(runs, out_dir, plots, plt)
    if hor:
        files += _fig4(hor, out_dir, plots, plt)
    files.append(write_verdict(out_dir, rows))
    return files


def _hist(row) -> list[dict]:
    return [p for p in row["outcome"]["info"]["history"] if p.get("w2") not in (None, "nan")]


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fig2(runs, out_dir, plots, plt) -> list[Path]:
    base = {
        r["cell"]["setting"]["target"]: r for r in runs if r["cell"]["extras"].get("regulariser") == "none"
    }
    order = [t for t in TARGETS if t in base]
    fig, axes = plt.subplots(2, len(order), figsize=(5.2 * len(order), 9.0), squeeze=False)
    for j, t in enumerate(order):
        row = base[t]
        hist = _hist(row)
        met = row["outcome"]["metrics"]
        c_final = _num(met["intercept"]["value"])
        for i, jkey in enumerate(("j_dsm", "j_sm")):
            ax = axes[i, j]
            lj = np.log([_num(p[jkey]) for p in hist])
            lw = np.log([_num(p["w2"]) for p in hist])
            lsw = np.log([_num(p["sliced_w2"]) for p in hist])
            lb = np.array([_log_bound(_num(p[jkey]), _num(p["intercept"])) for p in hist])
            asc = np.array([p["phase"] in ("init", "ascent") for p in hist])
            res = np.array([p.get("w2_meaningful") not in (False, "false") for p in hist])
            for sel, mk, col, lab in ((asc, "^", "tab:red", "ascent"), (~asc, "o", "tab:blue", "descent")):
                ax.scatter(
                    lj[sel & res], lw[sel & res], marker=mk, color=col, s=28, label=f"$W_2$ (exact OT), {lab}"
                )
                if (sel & ~res).any():
                    ax.scatter(
                        lj[sel & ~res],
                        lw[sel & ~res],
                        marker=mk,
                        facecolors="none",
                        edgecolors=col,
                        s=28,
                        label=f"$W_2$ within its noise floor, {lab}",
                    )
            ax.scatter(lj, lsw, marker=".", color="0.45", s=22, label="sliced $W_2$ (KFL notebook)")
            ax.scatter(
                lj,
                lb,
                marker="_",
                color="tab:green",
                s=60,
                linewidths=1.5,
                label=r"Cor. 1 per checkpoint: $\frac{1}{2}\log J + c_\theta$",
            )
            xs = np.linspace(np.nanmin(lj) - 0.3, np.nanmax(lj) + 0.3, 10)
            ax.plot(
                xs,
                0.5 * xs + c_final,
                color="k",
                lw=1.4,
                label="slope ½ line of the final network (KFL's plot)",
            )
            ax.text(0.98, 0.03, f"final $c$ = {c_final:.2f}", transform=ax.transAxes, ha="right", fontsize=8)
            fl = np.nanmedian([_num(p.get("w2_floor")) for p in hist])
            if np.isfinite(fl) and fl > 0:
                n_rec = row["cell"]["extras"].get("record_samples")
                ax.axhline(
                    np.log(fl),
                    color="tab:blue",
                    ls=":",
                    lw=1.0,
                    label=f"OT noise floor of the checkpoints (n = {n_rec})",
                )
            ex = _num(met.get("w2_exact_score", {}).get("value"))
            exf = _num(met.get("w2_exact_score", {}).get("floor"))
            if np.isfinite(ex) and ex > 0:
                ax.axhline(
                    np.log(ex),
                    color="tab:purple",
                    ls="--",
                    lw=1.0,
                    label="$W_2$ of the 10-step DDPM with the exact score (discretisation)",
                )
                res = "resolved" if ex > math.sqrt(3) * exf else "within its noise floor"
                ax.text(
                    0.98,
                    0.09,
                    f"exact-score $W_2$ {ex:.3f}, floor {exf:.3f} at n = "
                    f"{row['cell']['setting']['samples']}: {res}",
                    transform=ax.transAxes,
                    ha="right",
                    fontsize=7,
                )
            v = row["outcome"]["metrics"]
            key = "cor1_dsm" if jkey == "j_dsm" else "cor1_sm"
            frac = _num(v.get(f"frac_below_{key}", {}).get("value"))
            marg = _num(v.get(f"min_margin_{key}", {}).get("value"))
            viol = _num(v.get(f"violations_{key}", {}).get("value"))
            unres = _num(v.get(f"unresolved_{key}", {}).get("value"))
            n_deb, _ = debiased_violations(hist, jkey)
            extra = (
                f"\n{int(viol)} above (resolved; {n_deb} after floor correction), "
                f"{int(unres)} above within the floor"
                if viol or unres
                else ""
            )
            ax.set_title(
                f"{TARGETS[t]}: {frac:.0%} below the per-checkpoint line, min margin {marg:.2f}{extra}",
                fontsize=9,
            )
            ax.set_xlabel(r"$\log J_{DSM}$" if jkey == "j_dsm" else r"$\log J_{SM}$")
            ax.set_ylabel(r"$\log W_2(p_0, q_0)$")
            ax.grid(alpha=0.3)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            key = lab.split(":")[0] if lab.startswith(("slope", "exact", "OT")) else lab
            handles.setdefault(key, h)
            labels.setdefault(key, lab.split(":")[0] if key != lab else lab)
    fig.legend(
        list(handles.values()), list(labels.values()), loc="lower center", ncol=4, fontsize=8, frameon=False
    )
    fig.suptitle(
        "KFL Fig. 2: $W_2$ vs score-matching loss along a run (ascent then descent); "
        "10-step DDPM, $q_T = p_T$; log margin = log bound − log $W_2$",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return plots.save(fig, out_dir / "fig2_w2_vs_loss")


def _fig3(runs, out_dir, plots, plt) -> list[Path]:
    regs = ["none", "spectral", "clip"]
    by_t: dict[str, dict[str, Any]] = {}
    for r in runs:
        by_t.setdefault(r["cell"]["setting"]["target"], {})[r["cell"]["extras"].get("regulariser")] = r
    targets = [t for t in TARGETS if t in by_t and len(by_t[t]) > 1]
    if not targets:
        return []
    colours = {"none": "tab:blue", "spectral": "tab:orange", "clip": "tab:green"}
    fig, axes = plt.subplots(1, len(targets) + 1, figsize=(5.2 * (len(targets) + 1), 4.6), squeeze=False)
    for j, t in enumerate(targets):
        ax = axes[0, j]
        for reg in regs:
            row = by_t[t].get(reg)
            if row is None:
                continue
            hist = [p for p in _hist(row) if p["phase"] == "descent"]
            lj = np.log([_num(p["j_dsm"]) for p in hist])
            lw = np.log([_num(p["w2"]) for p in hist])
            c = _num(row["outcome"]["metrics"]["intercept"]["value"])
            ax.scatter(lj, lw, s=18, color=colours[reg], label=f"{reg}: $c$ = {c:.2f}")
            xs = np.linspace(np.nanmin(lj) - 0.2, np.nanmax(lj) + 0.2, 5)
            ax.plot(xs, 0.5 * xs + c, color=colours[reg], lw=1.2)
        ax.set_title(f"{TARGETS[t]} (descent checkpoints)", fontsize=10)
        ax.set_xlabel(r"$\log J_{DSM}$")
        ax.set_ylabel(r"$\log W_2$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[0, -1]
    width = 0.25
    for k, reg in enumerate(regs):
        cs = [
            _num(by_t[t].get(reg, {}).get("outcome", {}).get("metrics", {}).get("intercept", {}).get("value"))
            if by_t[t].get(reg)
            else np.nan
            for t in targets
        ]
        js = [
            _num(by_t[t].get(reg, {}).get("outcome", {}).get("metrics", {}).get("j_dsm", {}).get("value"))
            if by_t[t].get(reg)
            else np.nan
            for t in targets
        ]
        xs = np.arange(len(targets)) + (k - 1) * width
        ax.bar(xs, cs, width, color=colours[reg], label=f"{reg}: intercept")
        for x, jv in zip(xs, js):
            if np.isfinite(jv):
                ax.annotate(
                    f"J={jv:.2f}",
                    (x, 0),
                    xytext=(0, 3),
                    textcoords="offset points",
                    rotation=90,
                    fontsize=7,
                    ha="center",
                    va="bottom",
                )
    ax.set_xticks(np.arange(len(targets)), [TARGETS[t] for t in targets], fontsize=8)
    ax.set_ylabel("Cor. 1 intercept $c$ (final network)")
    ax.set_title("intercept and final $J_{DSM}$ by regulariser", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(
        "KFL Fig. 3: spectral normalisation and weight clipping (0.1) move the intercept", fontsize=12
    )
    fig.tight_layout()
    return plots.save(fig, out_dir / "fig3_regularisers")


def _fig4(hor, out_dir, plots, plt) -> list[Path]:
    hor = sorted(hor, key=lambda r: r["cell"]["setting"]["steps"])
    T = np.array([r["cell"]["setting"]["steps"] for r in hor], float)
    get = lambda r, k: _num(r["outcome"]["metrics"].get(k, {}).get("value"))  # noqa: E731
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6))
    ax = axes[0]
    longest = hor[-1]
    ls = np.array(longest["outcome"]["info"]["ls"], float)
    ax.plot(np.arange(1, ls.size + 1), ls, color="tab:blue", lw=1.2)
    ax.axhline(-1.0, color="k", ls=":", lw=1)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("DDPM step $t$ (forward time)")
    ax.set_ylabel(r"$\hat L_s(t)$ (one-sided Lipschitz estimate)")
    ax.set_title(f"(a) $\\hat L_s(t)$, T = {int(T[-1])}: tends to $-1$ (KFL Remark 4)", fontsize=10)
    ax.grid(alpha=0.3)
    ax = axes[1]
    ax.plot(T, [get(r, "offset") for r in hor], "o-", label=r"offset $I(T)\,W_2(p_T, q_T)$")
    ax.plot(T, [get(r, "score_term") for r in hor], "s--", label=r"score term $\sqrt{2\int g^2I^2\,J_{SM}}$")
    ax.plot(T, [get(r, "cor1_bound") for r in hor], "k-", lw=1, label="Cor. 1 bound (sum)")
    ax.plot(
        T, [get(r, "w2") for r in hor], "D-", color="tab:red", label=r"measured $W_2(p_0, q_0)$ (exact OT)"
    )
    ax.plot(
        T,
        [_num(r["outcome"]["metrics"]["w2"].get("floor")) for r in hor],
        ":",
        color="tab:red",
        label="OT noise floor",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon $T$ = number of DDPM steps")
    ax.set_ylabel("data units")
    ax.set_title(r"(b) four clusters, $q_T = N(0, I)$, sigmoid $\beta$ over $T$ steps", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.suptitle("KFL Fig. 4: the offset $I(T)W_2(p_T, q_T)$ against the horizon", fontsize=12)
    fig.tight_layout()
    return plots.save(fig, out_dir / "fig4_offset_vs_T")


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.kwon_fan_lee")
    p.add_argument("command", choices=["figures"])
    p.add_argument("--store", required=True)
    p.add_argument("--results", default="results")
    a = p.parse_args(argv)
    files = make_figures(Path(a.results) / "kwon-fan-lee", a.store)
    print("\n".join(str(f) for f in files))
    return 0


def debiased_violations(history: list[dict], jkey: str = "j_sm") -> tuple[int, float]:
    r"""Resolved checkpoints above the per-checkpoint Cor. 1 line after the heuristic floor correction
    $W_2 \to \sqrt{W_2^2 - F^2}$ ($F$ the OT noise floor: the plug-in estimate between two samples of one
    law), and the smallest corrected margin over resolved checkpoints."""
    count, worst = 0, float("inf")
    for p in history:
        w, f = _num(p.get("w2")), _num(p.get("w2_floor"))
        if not (w > 0) or p.get("w2_meaningful") in (False, "false"):
            continue
        lb = _log_bound(_num(p.get(jkey)), _num(p.get("intercept")))
        if not np.isfinite(lb):
            continue
        wd = math.sqrt(max(w * w - (f * f if np.isfinite(f) else 0.0), 1e-300))
        margin = lb - math.log(wd)
        worst = min(worst, margin)
        count += int(margin < 0)
    return count, worst


def write_verdict(results_dir, source) -> Path:
    """``VERDICT.md``: the study's verdicts in words and small tables, from the stored cells."""
    rows = [r for r in _rows(source) if r["status"] == "ok" and r["outcome"]]
    runs = [r for r in rows if r["cell"]["extras"].get("experiment") == "training-run"]
    hor = sorted(
        [r for r in rows if r["cell"]["extras"].get("experiment") == "horizon"],
        key=lambda r: r["cell"]["setting"]["steps"],
    )
    m = lambda r, k: _num(r["outcome"]["metrics"].get(k, {}).get("value"))  # noqa: E731
    lines = [
        "# kwon-fan-lee: verdict",
        "",
        "KFL Cor. 1 (the theorem's J is J_SM; KFL plot J_DSM >= J_SM) on KFL's 10-step DDPM, q_T = p_T. "
        "A checkpoint is *below* when log W2 <= 1/2 log J + c, c = 1/2 log(2 int g^2 I^2) computed from the "
        "one-sided Lipschitz estimates of *that checkpoint's* network; margin = log bound - log W2 "
        "(nats of the log; e^margin = bound/W2). *Resolved*: W2 is resolvable above its OT noise floor F "
        "(sgmbench.metrics.judge: W2^2 > 3 (F + 2 se)^2); unresolved checkpoints cannot be judged. *Floor "
        "correction*: the plug-in W2 is biased upward; sqrt(W2^2 - F^2) is a heuristic debiased value. "
        "The paper's single line uses the final network's c for every point.",
        "",
    ]
    if runs:
        lines += [
            "## Fig. 2-3: checkpoints against the Cor. 1 line",
            "",
            "| dataset | regulariser | checkpoints (resolved) | below, J_DSM | below, J_SM | resolved "
            "violations (J_SM) | after floor correction | min margin J_DSM | min margin J_SM (resolved; "
            "corrected) | below the paper's single line | "
            "final c | final J_DSM | final J_SM | final W2 (floor) | exact-score DDPM W2 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        order = {t: i for i, t in enumerate(TARGETS)}
        regs = {"none": 0, "spectral": 1, "clip": 2}
        for r in sorted(
            runs,
            key=lambda r: (
                regs.get(r["cell"]["extras"].get("regulariser"), 9),
                order.get(r["cell"]["setting"]["target"], 9),
            ),
        ):
            w2 = r["outcome"]["metrics"]["w2"]
            n_deb, worst_deb = debiased_violations(r["outcome"]["info"]["history"], "j_sm")
            lines.append(
                f"| {TARGETS.get(r['cell']['setting']['target'])} | "
                f"{r['cell']['extras'].get('regulariser')} | "
                f"{m(r, 'points'):.0f} ({m(r, 'resolved_points'):.0f}) | {m(r, 'frac_below_cor1_dsm'):.0%} | "
                f"{m(r, 'frac_below_cor1_sm'):.0%} | {m(r, 'violations_cor1_sm'):.0f} | {n_deb} | "
                f"{m(r, 'min_margin_cor1_dsm'):+.2f} | {m(r, 'min_margin_resolved_cor1_sm'):+.2f}; "
                f"{worst_deb:+.2f} | "
                f"{m(r, 'frac_below_paper_line'):.0%} | {m(r, 'intercept'):.2f} | {m(r, 'j_dsm'):.3f} | "
                f"{m(r, 'j_sm'):.4f} | {_num(w2['value']):.3f} ({_num(w2.get('floor')):.3f}) | "
                f"{m(r, 'w2_exact_score'):.3f} |"
            )
        lines.append("")
    if hor:
        lines += [
            "## Fig. 4: the offset against the horizon (four clusters, q_T = N(0, I))",
            "",
            "| T (steps) | int beta | log I(T) | W2(p_T, q_T) | offset I(T) W2(p_T, q_T) | score term | "
            "Cor. 1 bound | measured W2(p_0, q_0) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in hor:
            lines.append(
                f"| {r['cell']['setting']['steps']} | {m(r, 'integrated_beta'):.3f} | "
                f"{m(r, 'log_I_T'):.2f} | "
                f"{m(r, 'w2_pT_qT'):.3f} | {m(r, 'offset'):.3g} | {m(r, 'score_term'):.3g} | "
                f"{m(r, 'cor1_total_T'):.3g} | {m(r, 'w2'):.3f} |"
            )
        lines.append("")
    lines += [
        "Caveats: the theorem bounds the continuous-time model, KFL (and we) apply it to the 10-step DDPM; "
        "the DDPM's own discretisation error (exact-score column: W2 of the DDPM driven by the exact "
        "score) is "
        "not covered by the theorem, but at these sample sizes it is within the OT noise floor (for four "
        "clusters the floor fluctuates strongly: cluster-mass imbalance of the two samples). L_s is a "
        "maximum over "
        "finitely many points (a lower estimate of the supremum), so every intercept is a lower estimate. "
        "The plug-in OT W2 is biased upward by its noise floor (conservative for 'below').",
        "",
    ]
    path = Path(results_dir) / "VERDICT.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def report_hook(store, directory) -> list[Path]:
    """``Study.report_fn``: ``sgmbench report`` passes the open store and ``results/<study>/``."""
    return make_figures(directory, store)


if __name__ == "__main__":
    raise SystemExit(main())
