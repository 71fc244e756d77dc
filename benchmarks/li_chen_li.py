r"""Li–Chen–Li 2024: the empirical optimal score is a good score, and its sampler is a Gaussian KDE.

Reproduces and checks Li, Chen, Li, *A good score does not lead to a good generative model* (arXiv
2401.04856; ``shared/papers/empirical-score.md``, ``theorem-statements.md`` §4), with the protocols of
the authors' code ``SixuLi/DDPM_and_KDE``. Target $p_* = N((-5, 5), 10I_2)$, OU forward process
$dX = -X\,dt + \sqrt2\,dW$, $T = 5$ (the paper's), unless said otherwise. Parts (``part`` axis):

- ``score-error``: $E_{p_t}\|s^n_t - \nabla\log p_t\|^2$ of the empirical optimal score of $n$ training
  points, averaged over the times $t_k = kh$, $h = 0.02$, $k = 1..250$ (the code's "score approximation
  error", 1000 fresh points of $p_{t_k}$ each), and at single times $t \in \{0.1, 0.5, 1\}$ (4000
  points), against $n$; replicates are independent (nested) training sets. Beside it the closed-form
  asymptotic constant $J(t)/n$ for isotropic Gaussians (``empirical-score.md`` §2.2, bound
  ``lcl2024-score-error``): an *asymptotic* envelope of slope $-1$; the measured error sits below it at
  moderate $n$ (as the dossier found).
- ``kde-convergence``: the sampler driven by $s^n$ ($n = 100$, $\delta = 0.01$) against its exact
  continuous-time output, the Gaussian KDE $p^n_\delta = \frac1n\sum_iN(e^{-\delta}y_i, (1-e^{-2\delta})I)$
  (:func:`sgmbench.exact.kde_law`): $W_2$ (exact OT, with its noise floor, which is large for a law made of
  100 small bumps), KL(KDE ‖ generated) (k-NN, two samples) and KL(generated ‖ KDE) (k-NN with the KDE's
  exact density) against the number of uniform steps, Euler–Maruyama (the paper's) and the exponential
  integrator.
- ``scatter``: the paper's figure (§4.1): $n = 100$ training points, 1000 samples by Euler–Maruyama
  ($h = 5\cdot10^{-4}$ in ``full``) with the exact score of $p_*$ (``view=population``) and with the empirical
  optimal score (``view=training-law``), without early stopping and with $\delta = 0.01$.
- ``headline`` ("a good score, a bad generative model"): for $n$ and $\delta$, two views of one sampler
  (exponential integrator, ``benton`` grid, 400 steps). *population*: $s^n$ judged against $p_*$ (its error
  at every score time, Benton et al.'s KL bound for $p_\delta$ with that error, KL and TV of the KDE law to
  $p_\delta$ with exact densities); *training-law*: the same score is the *exact* score of the training law
  $\hat p_n$ (error 0; the bound for $\hat p_{n,\delta}$, which the KDE law equals). Beside them: Gu et
  al.'s memorisation fraction ($d_1/d_2 < 1/3$) with its chance level (fresh draws of the view's
  $p_\delta$), nearest-neighbour distances against $\sqrt{2d\delta}$, and the information a sample carries
  about *which* training point it copies, $I(X; J \mid Y_{1:n})/\log n \in [0, 1]$, beside
  $I(X; Y_{1:n}) = {\rm KL}(p^n_\delta\|p_\delta)$ for this training set (the total correlation of §4.5).
- ``total-correlation``: §4.5: the authors' $I(X; Y_{1:n})$ and $I(X; J \mid Y_{1:n})/\log n$ against the
  bandwidth $\gamma$ ($n = 100$, $d = 20$, $p_* = N(0, I)$). Contrary to the dossier, $I(X; Y_{1:n})$ is not
  bounded by $\log n$: it grows like $\frac d2\log\frac{1+\gamma^2}{\gamma^2} - \log n$ as $\gamma \to 0$.
- ``digits``: scikit-learn's 8×8 digits (standardised, $n = 500$ training images, the other 1297 held out):
  generated digits beside their nearest training and held-out digits, memorisation fraction.

The generic report writes the tables; :func:`make_figures` draws the figures and ``VERDICT.md`` (``python
-m benchmarks.li_chen_li figures --store PATH``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

try:
    from benchmarks import _lcl_helpers as L
except ImportError:  # loaded as a file module
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _lcl_helpers as L

TARGET = "gaussian:dim=2,mean=-5;5,var=10"
DIGITS = "digits:standardise=true"
S2 = 10.0  # variance of the target per coordinate
SINGLE_TIMES = (0.1, 0.5, 1.0)
PARTS = ("score-error", "kde-convergence", "scatter", "headline", "total-correlation", "digits")

CONFIG_AXIS = ("part", "target", "sampler", "steps", "early_stop", "view", "num_train", "bandwidth")


def configs(*, score_error_n, kde_steps, scatter_steps, headline_n, headline_delta, digits_delta, bandwidths):
    """The study's settings as tuples of :data:`CONFIG_AXIS` (one zipped axis: parts have different grids)."""
    out = []
    for n in score_error_n:  # 250 score times t_k = k h, h = 0.02 (uniform grid, delta = 0)
        out.append(("score-error", TARGET, "euler-maruyama", 250, 0.0, "population", n, 0.0))
    for smp in ("euler-maruyama", "exponential-integrator"):
        for k in kde_steps:
            out.append(("kde-convergence", TARGET, smp, k, 0.01, "population", 100, 0.0))
    for view in ("population", "training-law"):  # exact score of p_* / empirical optimal score
        for delta in (0.0, 0.01):
            out.append(("scatter", TARGET, "euler-maruyama", scatter_steps, delta, view, 100, 0.0))
    for view in ("population", "training-law"):
        for n in headline_n:
            for delta in headline_delta:
                out.append(("headline", TARGET, "exponential-integrator", 400, delta, view, n, 0.0))
    for g in bandwidths:
        out.append(("total-correlation", TARGET, "euler-maruyama", 250, 0.0, "population", 100, g))
    for delta in digits_delta:
        out.append(("digits", DIGITS, "exponential-integrator", 200, delta, "training-law", 500, 0.0))
    return out


QUICK = configs(
    score_error_n=(100, 400, 1600),
    kde_steps=(20, 80, 320),
    scatter_steps=2500,
    headline_n=(100,),
    headline_delta=(0.01, 0.5),
    digits_delta=(0.01,),
    bandwidths=(0.005, 0.05, 0.5, 5.0, 50.0),
)
FULL = configs(
    score_error_n=(100, 200, 400, 800, 1600, 3200),
    kde_steps=(10, 20, 40, 80, 160, 320, 640, 1280, 2560),
    scatter_steps=10000,
    headline_n=(100, 1000),
    headline_delta=(0.001, 0.01, 0.1, 0.5),
    digits_delta=(0.01, 0.1),
    bandwidths=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0),
)


def _where(p) -> bool:
    """Replicates (independent training sets) only for the score-error part."""
    return p["seed"] == 0 or p["part"] == "score-error"


STUDY = Study(
    title="Li-Chen-Li 2024: empirical optimal score error ~ 1/n, its sampler is a Gaussian KDE, memorisation",
    axes={
        CONFIG_AXIS: QUICK,
        "seed": [0, 1, 2],
        "tc_train_sets": [4],
    },
    base=Setting(
        target=TARGET,
        process="ou",
        horizon=5.0,
        sampler="euler-maruyama",
        grid="uniform",
        steps=250,
        prior="gaussian",
        score="empirical-optimal",
        samples=1000,
    ),
    metrics=("score_error_sq",),
    where=_where,
    cell_fn="benchmarks.li_chen_li:lcl_cell",
    report_fn="benchmarks.li_chen_li:report_hook",
    rates=(
        Rate("score_error_sq", x="num_train", predicted=-1.0, bound="lcl2024-score-error"),
        Rate("score_error_sq_t0.1", x="num_train", predicted=-1.0),
        Rate("score_error_sq_t0.5", x="num_train", predicted=-1.0),
        Rate("score_error_sq_t1", x="num_train", predicted=-1.0),
        Rate("w2", x="steps"),
        Rate("kl", x="steps"),
        Rate("kl_reverse", x="steps"),
    ),
    tables=(
        Table(
            "score_error",
            index=("part", "num_train"),
            metrics=(
                "score_error_sq",
                "score_error_asym",
                "score_error_sq_t0.1",
                "score_error_asym_t0.1",
                "score_error_sq_t0.5",
                "score_error_asym_t0.5",
                "score_error_sq_t1",
                "score_error_asym_t1",
            ),
        ),
        Table(
            "kde_convergence",
            index=("part", "sampler", "steps"),
            metrics=("w2", "w2_floor", "kl", "kl_reverse", "memorised_by_sampler"),
        ),
        Table(
            "headline",
            index=("part", "view", "num_train", "early_stop"),
            metrics=(
                "score_error_avg",
                "kl_bound",
                "tv_bound_pinsker",
                "kl_bound_continuous",
                "kl_continuous",
                "tv_continuous",
                "kl_knn_samples",
                "memorised",
                "memorised_chance",
                "nn_distance",
                "kde_radius",
                "index_information",
                "tc_nats",
            ),
        ),
        Table(
            "memorisation",
            index=("part", "target", "view", "early_stop"),
            metrics=(
                "memorised_fraction",
                "memorised_fraction_fresh",
                "nn_distance_mean",
                "sqrt_2d_delta",
                "w2_to_target",
                "nearest_is_training",
            ),
        ),
        Table(
            "total_correlation",
            index=("part", "bandwidth"),
            metrics=("index_information_fraction", "tc", "tc_small_bandwidth_asymptote"),
        ),
    ),
    figures=(Figure("measured_vs_bound", kind="bound", metric=""),),
    profiles={
        "quick": {},
        "full": {CONFIG_AXIS: FULL, "seed": list(range(8)), "tc_train_sets": [10], "samples": [2000]},
    },
)


# ------------------------------------------------------------------------------------------------
# Cell function
# ------------------------------------------------------------------------------------------------
def lcl_cell(cell) -> dict[str, Any]:
    part = cell.extra("part")
    fn = {
        "score-error": score_error_cell,
        "kde-convergence": kde_cell,
        "scatter": scatter_cell,
        "headline": headline_cell,
        "total-correlation": tc_cell,
        "digits": digits_cell,
    }[part]
    return fn(cell)


def _objects(setting):
    from sgmbench.processes import get_process
    from sgmbench.targets import get_target

    return get_target(setting.target), get_process(setting.process)


def _training_points(target, n: int, seed: int):
    import torch

    return target.sample(int(n), generator=torch.Generator().manual_seed(int(seed)))


def _train_seed(cell) -> int:
    """Training sets are indexed by the replicate, not by the cell (so every part and every step count of a
    replicate uses the same training set)."""
    return 10_000 + int(cell.replicate)


def _setting(cell, **extra) -> dict:
    d = cell.setting.as_dict()
    d.update(extra)
    return d


def score_error_cell(cell) -> dict[str, Any]:
    import torch

    from sgmbench.bounds import bounds_table
    from sgmbench.bounds.base import BoundContext
    from sgmbench.bounds.lcl import j_constant
    from sgmbench.grids import make_grid

    s = cell.setting
    target, process = _objects(s)
    n = int(cell.extra("num_train"))
    pts = _training_points(target, n, _train_seed(cell))
    gen = torch.Generator().manual_seed(int(cell.seed))
    grid = make_grid("uniform", process, float(s.horizon), 0.0, int(s.steps))  # times k h, k = 1..250
    times = grid[:-1].tolist()
    avg, se, per_time = L.time_averaged_error(pts, target, process, times, 1000, gen)
    asym = [j_constant(float(process.alpha(t)), float(process.sigma2(t)), S2, target.dim) / n for t in times]
    metrics = {
        "score_error_sq": L.record(
            avg, stderr=se, note="mean over t_k = k h, k = 1..250, of E|s^n - grad log p_t|^2"
        ),
        "score_error_asym": L.record(float(np.mean(asym)), exact=True, note="mean_k J(t_k)/n (asymptotic)"),
    }
    for t in SINGLE_TIMES:
        v, sv = L.empirical_score_error(pts, target, process, t, 4000, gen)
        key = f"t{t:g}"
        metrics[f"score_error_sq_{key}"] = L.record(v, stderr=sv)
        j = j_constant(float(process.alpha(t)), float(process.sigma2(t)), S2, target.dim)
        metrics[f"score_error_asym_{key}"] = L.record(j / n, exact=True, note="J(t)/n")
    ctx = BoundContext(
        target=target,
        process=process,
        constants=target.constants(),
        grid=grid,
        sampler=s.sampler,
        prior=s.prior,
        score_name="empirical-optimal",
        score_error_sq=torch.tensor(per_time),
        num_train=n,
        setting=s,
    )
    bounds = bounds_table(s, {"score_error_sq": avg}, names=["lcl2024-score-error"], context=ctx)
    return {
        "setting": _setting(cell, dim=target.dim),
        "metrics": metrics,
        "bounds": bounds,
        "info": {"per_time": per_time[::5], "times": times[::5]},
    }


def _generate(process, horizon, delta, steps, sampler, grid_name, score, n, seed, dim):
    import torch

    from sgmbench.brownian import IndependentNoise
    from sgmbench.grids import make_grid
    from sgmbench.samplers import get_sampler, initial_points

    grid = make_grid(grid_name, process, float(horizon), float(delta), int(steps))
    gen = torch.Generator().manual_seed(int(seed))
    x0 = initial_points(process, float(horizon), int(n), dim, prior="gaussian", generator=gen)
    res = get_sampler(sampler)(process, grid, score, x0, IndependentNoise(int(n), dim, generator=gen))
    res.raise_for_failure()
    return res.samples.detach().to(torch.float64)


def _empirical_score(pts, process):
    from sgmbench.scores import build_score
    from sgmbench.targets.empirical import EmpiricalTarget

    emp = EmpiricalTarget(pts)
    return emp, build_score("exact", emp, process)


def kde_cell(cell) -> dict[str, Any]:
    from sgmbench.exact import kde_law
    from sgmbench.metrics import estimate

    s = cell.setting
    target, process = _objects(s)
    n = int(cell.extra("num_train"))
    pts = _training_points(target, n, _train_seed(cell))
    emp, score = _empirical_score(pts, process)
    x = _generate(
        process, s.horizon, s.early_stop, s.steps, s.sampler, s.grid, score, s.samples, cell.seed, 2
    )
    kde = L.CachedKDE(kde_law(pts, process, s.early_stop))
    seed = 4242  # the same KDE reference sample for every step count (common random numbers)
    w2 = estimate("w2", x, kde, seed=seed, estimator="ot-exact")
    kl = estimate("kl", x, kde, seed=seed, estimator="knn:k=5")
    klr = estimate("kl_reverse", x, kde, seed=seed, estimator="knn-known-density:k=5")
    mem = L.memorisation(x, pts)
    metrics = {
        "w2": L.metric_record(w2),
        "w2_floor": L.record(w2.floor, exact=True),
        "kl": L.metric_record(kl),
        "kl_reverse": L.metric_record(klr),
        "memorised_by_sampler": L.record(
            mem["memorised_fraction"],
            stderr=mem["memorised_fraction_se"],
            note="Gu et al. fraction of the sampler's output (KDE's own: ~0.5)",
        ),
    }
    return {"setting": _setting(cell, dim=2), "metrics": metrics, "info": {"nfe": s.steps, **mem}}


def scatter_cell(cell) -> dict[str, Any]:
    """One panel of the paper's scatter figure: ``view`` population = the exact score of $p_*$, training-law =
    the empirical optimal score (the exact score of the training law)."""
    import torch

    from sgmbench.metrics import estimate
    from sgmbench.scores import build_score

    s = cell.setting
    target, process = _objects(s)
    n = int(cell.extra("num_train"))
    pts = _training_points(target, n, _train_seed(cell))
    if cell.extra("view") == "training-law":
        _, score = _empirical_score(pts, process)
    else:
        score = build_score("exact", target, process)
    x = _generate(process, s.horizon, s.early_stop, s.steps, s.sampler, s.grid, score, s.samples, 777, 2)
    mem = L.memorisation(x, pts)
    fresh = (
        target.noised(process, s.early_stop).sample(s.samples, generator=torch.Generator().manual_seed(5))
        if s.early_stop > 0
        else target.sample(s.samples, generator=torch.Generator().manual_seed(5))
    )
    memf = L.memorisation(fresh, pts)
    ref = target.noised(process, s.early_stop) if s.early_stop > 0 else target
    w2 = estimate("w2", x, ref, seed=99, estimator="ot-exact")
    d1, _, _ = L.nn_distances(x, pts)
    metrics = {
        "memorised_fraction": L.record(mem["memorised_fraction"], stderr=mem["memorised_fraction_se"]),
        "memorised_fraction_fresh": L.record(
            memf["memorised_fraction"], stderr=memf["memorised_fraction_se"]
        ),
        "nn_distance_mean": L.record(mem["nn_distance_mean"]),
        "sqrt_2d_delta": L.record(math.sqrt(2 * 2 * s.early_stop), exact=True),
        "w2_to_target": L.metric_record(w2),
    }
    info = {
        "nfe": s.steps,
        "train": pts.numpy().round(4).tolist(),
        "samples": x[:1000].numpy().round(4).tolist(),
        "nn_distances": np.round(d1, 5).tolist(),
        "h": (s.horizon - s.early_stop) / s.steps,
    }
    return {"setting": _setting(cell, dim=2), "metrics": metrics, "info": info}


def headline_cell(cell) -> dict[str, Any]:
    import torch

    from sgmbench.bounds import bounds_table
    from sgmbench.bounds.base import BoundContext
    from sgmbench.exact import kde_law
    from sgmbench.grids import make_grid
    from sgmbench.metrics import estimate, measure_between_laws

    s = cell.setting
    target, process = _objects(s)
    n, delta, view = int(cell.extra("num_train")), float(s.early_stop), cell.extra("view")
    pts = _training_points(target, n, _train_seed(cell))
    emp, score = _empirical_score(pts, process)
    grid_name = "benton"
    grid = make_grid(grid_name, process, float(s.horizon), delta, int(s.steps))
    x = _generate(process, s.horizon, delta, s.steps, s.sampler, grid_name, score, s.samples, cell.seed, 2)
    kde = kde_law(pts, process, delta)
    # the reference law of the view: p_delta of the population, or of the training law (= the KDE itself)
    ref_target = target if view == "population" else emp
    ref = ref_target.noised(process, delta)
    ctx = BoundContext.from_objects(
        ref_target,
        process,
        grid,
        score if view == "training-law" else _PopulationScore(emp, target, process),
        sampler=s.sampler,
        prior=s.prior,
        setting=None,
        # every score time: the error grows steeply as t -> delta, and a subsampled, log-interpolated error
        # under-estimates the score term by a few percent (enough to fake a "violation" at delta = 0.001)
        max_error_times=int(s.steps),
        error_samples=4096,
    )
    seed = int(cell.seed)
    # KL(p_delta || generated): the sampler's output converges to the KDE law (part kde-convergence), whose
    # density is known, so KL(p_delta || KDE) is computed by Monte Carlo with exact densities; the k-NN
    # two-sample estimate on the sampler's output is kept beside it but is biased low by orders of magnitude
    # when the output is concentrated on small bumps (it cannot see the empty space between them).
    kl_knn = estimate("kl", x, ref, seed=seed, estimator="knn:k=5", floor=False)
    if view == "population":
        kl_c = measure_between_laws("kl", ref, kde, n=20000, seed=seed)
        tv_c = measure_between_laws("tv", ref, kde, n=20000, seed=seed)
        tc = measure_between_laws("kl_reverse", ref, kde, n=20000, seed=seed)
        kl_c_val, kl_c_se, tv_c_val, tv_c_se = kl_c.value, kl_c.stderr, tv_c.value, tv_c.stderr
    else:  # the continuous-time output is the reference law itself
        kl_c_val, kl_c_se, tv_c_val, tv_c_se, tc = 0.0, 0.0, 0.0, 0.0, None
    rows = bounds_table(
        Setting(**{**s.as_dict(), "reference": "early-stopped"}),
        {"kl@early-stopped": kl_c_val},
        names=["benton2024-thm1"],
        context=ctx,
    )
    for r in rows:
        r["notes"] = "; ".join(
            x
            for x in (
                r.get("notes"),
                "measured: KL(p_delta || KDE law), the sampler's continuous-time output, exact densities",
            )
            if x
        )
    kl_bound = rows[0]["value"] if rows[0]["applicable"] else float("nan")
    terms = rows[0].get("terms") or {}
    if isinstance(terms, list):
        terms = {t["name"]: t["value"] for t in terms if isinstance(t, dict)}
    kl_bound_ct = (terms.get("initialisation", 0.0) + terms.get("score", 0.0)) if terms else float("nan")
    mem = L.memorisation(x, pts)
    fresh = ref.sample(s.samples, generator=torch.Generator().manual_seed(seed + 5))
    memf = L.memorisation(fresh, pts)
    idx, idx_se = L.index_information(kde.means, kde.var, 4000, torch.Generator().manual_seed(seed + 6))
    d1, _, _ = L.nn_distances(x, pts)
    dc, _, _ = L.nn_distances(x, kde.means)  # to the KDE's centres e^{-delta} y_i
    metrics = {
        "score_error_avg": L.record(
            float(ctx.score_error_sq.mean()),
            note="mean over the grid's score times of E|s - grad log p_t|^2 vs the view's law",
        ),
        "kl_bound": L.record(kl_bound, note="Benton et al. 2024 Thm 1 (constant 1)"),
        "tv_bound_pinsker": L.record(
            min(1.0, math.sqrt(kl_bound / 2)) if math.isfinite(kl_bound) else float("nan")
        ),
        "kl_bound_continuous": L.record(
            kl_bound_ct,
            note="initialisation + score terms of Benton's bound: its limit "
            "as the grid is refined, the part that bounds the KDE law",
        ),
        "kl_continuous": L.record(kl_c_val, stderr=kl_c_se, note="KL(p_delta || KDE), exact densities"),
        "tv_continuous": L.record(tv_c_val, stderr=tv_c_se, note="TV(p_delta, KDE), exact densities"),
        "kl_knn_samples": L.metric_record(kl_knn),
        "memorised": L.record(
            mem["memorised_fraction"],
            stderr=mem["memorised_fraction_se"],
            note="Gu et al.: fraction with d1/d2 < 1/3 (nearest training points)",
        ),
        "memorised_chance": L.record(
            memf["memorised_fraction"],
            stderr=memf["memorised_fraction_se"],
            note="the same for fresh draws of the view's p_delta",
        ),
        "nn_distance": L.record(mem["nn_distance_mean"], note="mean distance to the nearest training point"),
        "kde_radius": L.record(
            math.sqrt(2 * float(process.sigma2(delta))),
            exact=True,
            note="sigma_delta sqrt(d): the KDE's typical distance to its centre",
        ),
        "index_information": L.record(
            idx / math.log(n),
            stderr=idx_se / math.log(n),
            note="I(X; J | Y)/log n of the KDE: which training point is copied",
        ),
        "tc_nats": L.record(
            tc.value if tc is not None else float("nan"),
            stderr=tc.stderr if tc is not None else None,
            note="KL(KDE || p_delta) = I(X; Y_1..n) for this training set",
        ),
    }
    info = {
        "nfe": s.steps,
        "nn_distances": np.round(dc, 5).tolist(),
        "nn_distances_raw": np.round(d1, 5).tolist(),
        "bound_terms": rows[0].get("terms"),
    }
    return {
        "setting": _setting(cell, dim=2, grid=grid_name, reference="early-stopped"),
        "metrics": metrics,
        "bounds": rows,
        "info": info,
    }


class _PopulationScore:
    """The empirical optimal score presented to the bound machinery as an approximation of the *population*
    score: ``error_sq`` is Monte Carlo against $p_*$'s noised score."""

    name = "empirical-optimal"

    def __init__(self, emp, target, process):
        self.emp, self.target, self.process = emp, target, process
        self.params = {"num_train": emp.num_points}

    def __call__(self, x, t):
        return self.evaluate(x, t)

    def evaluate(self, x, t):
        return self.emp.noised(self.process, float(t)).score(x)

    def affine(self, t):
        return None

    def error_sq(self, t, num_samples: int = 4096, seed: int = 0):
        import torch

        law = self.target.noised(self.process, float(t))
        x = law.sample(num_samples, generator=torch.Generator().manual_seed(seed))
        err = ((self.evaluate(x, t) - law.score(x)) ** 2).sum(-1)
        return float(err.mean()), float(err.std() / num_samples**0.5)


def tc_cell(cell) -> dict[str, Any]:
    gamma = float(cell.extra("bandwidth"))
    n, d = 100, 20
    r = L.total_correlation(
        n, d, 1.0, gamma, train_sets=int(cell.extra("tc_train_sets")), per_centre=50, seed=int(cell.seed)
    )
    metrics = {
        "tc": L.record(
            r["tc"],
            stderr=r["tc_se"],
            note="I(X; Y_1..n) in nats (the authors' total correlation), n = 100, d = 20, p_* = N(0, I)",
        ),
        "tc_over_logn": L.record(
            r["tc"] / math.log(n),
            stderr=r["tc_se"] / math.log(n),
            note="not bounded by 1: grows like (d log(1/gamma) - log n)/log n",
        ),
        "index_information_fraction": L.record(
            r["index"] / math.log(n),
            stderr=r["index_se"] / math.log(n),
            note="I(X; J | Y)/log n in [0, 1]: which training point is copied",
        ),
        "tc_small_bandwidth_asymptote": L.record(
            0.5 * d * math.log((1 + gamma**2) / gamma**2) - math.log(n),
            exact=True,
            note="(d/2) log((c^2+gamma^2)/gamma^2) - log n (derived)",
        ),
    }
    return {"setting": _setting(cell, dim=d), "metrics": metrics, "info": {"n": n, "d": d}}


def digits_cell(cell) -> dict[str, Any]:
    """Generated 8×8 digits with the empirical optimal score of 500 training images, beside their nearest
    training and held-out images."""
    import torch

    from sgmbench.targets.digits import digits_points

    s = cell.setting
    _, process = _objects(s)
    allx = digits_points(standardise=True)
    perm = torch.randperm(allx.shape[0], generator=torch.Generator().manual_seed(_train_seed(cell)))
    n = int(cell.extra("num_train"))
    train, held = allx[perm[:n]], allx[perm[n:]]
    emp, score = _empirical_score(train, process)
    m = min(int(s.samples), 200)
    x = _generate(process, s.horizon, s.early_stop, s.steps, s.sampler, "geometric", score, m, cell.seed, 64)
    # the practitioner's last step: Tweedie's denoiser E[X_0 | X_delta] (a softmax average of training images)
    den = emp.noised(process, s.early_stop).denoiser(x) if s.early_stop > 0 else x
    mem = L.memorisation(x, train)
    memf = L.memorisation(held[:m], train)  # chance level: held-out digits are fresh draws
    d_tr, _, i_tr = L.nn_distances(x, train)
    d_ho, _, i_ho = L.nn_distances(x, held)
    near_train = float(np.mean(d_tr < d_ho))
    k = 12
    raw = digits_points(standardise=False)
    mu, sd = raw.mean(0), raw.std(0, unbiased=False)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))

    def grey(z):  # back to the 0-16 grey levels for display
        return (z * sd + mu).clamp(0, 16).numpy().round(2).tolist()

    info = {
        "nfe": s.steps,
        "generated": grey(x[:k]),
        "denoised": grey(den[:k]),
        "nearest_train": grey(train[i_tr[:k]]),
        "nearest_heldout": grey(held[i_ho[:k]]),
        "d_train": d_tr[:k].round(3).tolist(),
        "d_heldout": d_ho[:k].round(3).tolist(),
        "nn_distances": np.round(d_tr, 4).tolist(),
    }
    metrics = {
        "memorised_fraction": L.record(mem["memorised_fraction"], stderr=mem["memorised_fraction_se"]),
        "memorised_fraction_fresh": L.record(
            memf["memorised_fraction"],
            stderr=memf["memorised_fraction_se"],
            note="held-out digits against the training set",
        ),
        "nn_distance_mean": L.record(mem["nn_distance_mean"]),
        "sqrt_2d_delta": L.record(math.sqrt(2 * 64 * s.early_stop), exact=True),
        "nearest_is_training": L.record(
            near_train, note="fraction of samples closer to a training than to a held-out digit"
        ),
    }
    return {"setting": _setting(cell, dim=64, grid="geometric"), "metrics": metrics, "info": info}


# ------------------------------------------------------------------------------------------------
# Figures (drawn from the stored cells; the generic report does not know them)
# ------------------------------------------------------------------------------------------------
def _rows(source) -> list[dict]:
    from sgmbench.store import Store

    if isinstance(source, (str, Path)):
        with Store(source, readonly=True) as st:
            return st.rows("li-chen-li")
    if hasattr(source, "rows"):
        return source.rows("li-chen-li")
    return [r for r in source if r.get("study", "li-chen-li") == "li-chen-li"]


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _m(row, key, field="value") -> float:
    return _num((row["outcome"]["metrics"].get(key) or {}).get(field))


def _part(rows, part):
    return [r for r in rows if r["cell"]["extras"].get("part") == part]


def make_figures(results_dir, source) -> list[Path]:
    """Draw the study's figures into ``results_dir`` (``results/li-chen-li``) from its stored cells
    (``source``: a :class:`~sgmbench.store.Store`, a store path, or its ``rows()``)."""
    import matplotlib.pyplot as plt

    from sgmbench import plots

    out = Path(results_dir)
    rows = [r for r in _rows(source) if r["status"] == "ok" and r["outcome"]]
    files: list[Path] = []
    for part, fn in (
        ("score-error", _fig_score_error),
        ("kde-convergence", _fig_kde),
        ("scatter", _fig_scatter),
        ("headline", _fig_nn_hist),
        ("total-correlation", _fig_tc),
        ("digits", _fig_digits),
    ):
        sel = _part(rows, part)
        if sel:
            files += fn(sel, out, plots, plt)
    files.append(write_verdict(out, rows))
    return files


def _fig_score_error(rows, out, plots, plt):
    from sgmbench.analysis import fit_slope

    keys = [("score_error_sq", "score_error_asym", "time average over $t_k = kh$, $k = 1..250$")] + [
        (f"score_error_sq_t{t:g}", f"score_error_asym_t{t:g}", f"$t = {t:g}$") for t in SINGLE_TIMES
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 4.2), squeeze=False)
    ns = sorted({int(r["cell"]["extras"]["num_train"]) for r in rows})
    for ax, (key, akey, title) in zip(axes[0], keys):
        reps = sorted({int(r["cell"]["replicate"]) for r in rows})
        Y = np.full((len(reps), len(ns)), np.nan)
        for r in rows:
            Y[reps.index(int(r["cell"]["replicate"])), ns.index(int(r["cell"]["extras"]["num_train"]))] = _m(
                r, key
            )
        x = np.asarray(ns, float)
        for yr in Y:
            ax.plot(x, yr, color="0.75", lw=0.8, marker=".", ms=3)
        mean = np.nanmean(Y, 0)
        se = np.nanstd(Y, 0, ddof=1) / np.sqrt(Y.shape[0]) if Y.shape[0] > 1 else np.zeros_like(mean)
        ax.errorbar(
            x,
            mean,
            yerr=se,
            color="tab:blue",
            marker="o",
            lw=1.5,
            capsize=3,
            label="measured (mean of training sets)",
        )
        asym = [
            np.nanmean([_m(r, akey) for r in rows if int(r["cell"]["extras"]["num_train"]) == n]) for n in ns
        ]
        ax.plot(x, asym, "k--", lw=1.2, label="asymptote $J(t)/n$ (closed form)")
        try:
            fit = fit_slope(x, Y if Y.shape[0] > 1 else mean, asymptotic="high")
            ax.text(
                0.03,
                0.04,
                f"fitted slope {fit.slope:+.3f} [{fit.ci_low:+.3f}, {fit.ci_high:+.3f}]\npredicted −1",
                transform=ax.transAxes,
                fontsize=8,
            )
        except Exception:  # noqa: BLE001 - a figure must not fail on a degenerate fit
            pass
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training-set size $n$")
        ax.set_ylabel(r"$E_{p_t}\|s^n_t - \nabla\log p_t\|^2$")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.suptitle(
        r"Empirical optimal score: error vs $n$ ($p_* = N((-5,5), 10I_2)$, OU, $T = 5$); "
        "grey: individual training sets",
        fontsize=11,
    )
    fig.tight_layout()
    return plots.save(fig, out / "fig_score_error_vs_n")


def _fig_kde(rows, out, plots, plt):
    import matplotlib.ticker

    metrics = [
        ("w2", "$W_2$(KDE, generated), exact OT"),
        ("kl", "KL(KDE ‖ generated), k-NN (two samples)"),
        ("kl_reverse", "KL(generated ‖ KDE), k-NN + exact KDE density"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    for ax, (key, lab) in zip(axes, metrics):
        for smp, col in (("euler-maruyama", "tab:blue"), ("exponential-integrator", "tab:orange")):
            sel = sorted(
                [r for r in rows if r["cell"]["setting"]["sampler"] == smp],
                key=lambda r: r["cell"]["setting"]["steps"],
            )
            if not sel:
                continue
            h = np.array(
                [
                    (r["cell"]["setting"]["horizon"] - r["cell"]["setting"]["early_stop"])
                    / r["cell"]["setting"]["steps"]
                    for r in sel
                ]
            )
            v = np.array([_m(r, key) for r in sel])
            e = np.array([_m(r, key, "stderr") for r in sel])
            ax.errorbar(h, v, yerr=np.nan_to_num(e), marker="o", color=col, capsize=3, label=smp)
            if key == "w2":
                ax.plot(
                    h, [_m(r, "w2", "floor") for r in sel], ":", color=col, label=f"{smp}: OT noise floor"
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("step size $h = (T - \\delta)/N$")
        ax.set_title(lab, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(
        r"The sampler with the empirical score converges to the Gaussian KDE "
        r"$\frac{1}{n}\sum_i N(e^{-\delta}y_i, (1-e^{-2\delta})I)$ as $h \to 0$ ($n = 100$, $\delta = 0.01$)",
        fontsize=11,
    )
    fig.tight_layout()
    return plots.save(fig, out / "fig_kde_convergence")


def _fig_scatter(rows, out, plots, plt):
    fig, axes = plt.subplots(2, 2, figsize=(10, 10), sharex=True, sharey=True)
    for r in rows:
        view, delta = r["cell"]["extras"]["view"], r["cell"]["setting"]["early_stop"]
        i = 0 if view == "population" else 1
        j = 0 if delta == 0 else 1
        ax = axes[i, j]
        tr = np.asarray(r["outcome"]["info"]["train"])
        xs = np.asarray(r["outcome"]["info"]["samples"])
        ax.scatter(xs[:, 0], xs[:, 1], s=4, color="tab:blue", alpha=0.5, label="generated (1000)")
        ax.scatter(tr[:, 0], tr[:, 1], s=30, marker="x", color="tab:red", label="training points (100)")
        score = "exact score of $p_*$" if view == "population" else "empirical optimal score"
        stop = "no early stopping" if delta == 0 else f"early stopping $\\delta$ = {delta:g}"
        ax.set_title(
            f"{score}, {stop}\nmemorised {_m(r, 'memorised_fraction'):.0%} "
            f"(chance {_m(r, 'memorised_fraction_fresh'):.0%}), mean NN distance "
            f"{_m(r, 'nn_distance_mean'):.3f}",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.set_aspect("equal")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    h = rows[0]["outcome"]["info"].get("h")
    fig.suptitle(
        f"Li–Chen–Li Fig. (§4.1): Euler–Maruyama, $h$ = {h:.2g}, $T = 5$, from $N(0, I)$; "
        "memorised: Gu et al. $d_1/d_2 < 1/3$",
        fontsize=11,
    )
    fig.tight_layout()
    return plots.save(fig, out / "fig_scatter")


def _fig_nn_hist(rows, out, plots, plt):
    sel = sorted(
        [r for r in rows if r["cell"]["extras"]["view"] == "population"],
        key=lambda r: (r["cell"]["extras"]["num_train"], r["cell"]["setting"]["early_stop"]),
    )
    if not sel:
        return []
    ncol = min(4, len(sel))
    nrow = math.ceil(len(sel) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.3 * nrow), squeeze=False)
    for ax in axes.flat[len(sel) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, sel):
        d1 = np.asarray(r["outcome"]["info"]["nn_distances"], float)
        delta = r["cell"]["setting"]["early_stop"]
        sig = _m(r, "kde_radius") / math.sqrt(2)
        ax.hist(d1, bins=40, density=True, color="tab:blue", alpha=0.7, label="generated")
        rr = np.linspace(0, max(d1.max(), 3 * sig), 200)
        ax.plot(
            rr,
            rr / sig**2 * np.exp(-(rr**2) / (2 * sig**2)),
            "k-",
            lw=1,
            label=r"$\sigma_\delta\chi_2$ (KDE: own centre)",
        )
        ax.axvline(math.sqrt(4 * delta), color="tab:red", ls="--", lw=1.2, label=r"$\sqrt{2d\delta}$")
        ax.set_title(
            f"n = {r['cell']['extras']['num_train']}, $\\delta$ = {delta:g}: memorised "
            f"{_m(r, 'memorised'):.0%} (chance {_m(r, 'memorised_chance'):.0%})",
            fontsize=9,
        )
        ax.set_xlabel(r"distance to the nearest centre $e^{-\delta}y_i$")
        ax.legend(fontsize=7)
    fig.suptitle(
        "Distances of generated samples to the (shrunk) training points: the Gaussian KDE's blur "
        "(empirical score, exponential integrator; memorised: Gu et al. test against the training points)",
        fontsize=10,
    )
    fig.tight_layout()
    return plots.save(fig, out / "fig_nn_distance_histograms")


def _fig_tc(rows, out, plots, plt):
    sel = sorted(rows, key=lambda r: r["cell"]["extras"]["bandwidth"])
    g = np.array([r["cell"]["extras"]["bandwidth"] for r in sel], float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.errorbar(
        g,
        [_m(r, "index_information_fraction") for r in sel],
        yerr=np.nan_to_num([_m(r, "index_information_fraction", "stderr") for r in sel]),
        marker="o",
    )
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(r"KDE bandwidth $\gamma$")
    ax.set_ylabel(r"$I(X; J \mid Y_{1:n}) / \log n$")
    ax.set_title("which training point a sample copies (1: always identifiable)", fontsize=10)
    for delta in (0.01, 0.1, 0.5):
        s_d = math.sqrt(1 - math.exp(-2 * delta))
        ax.axvline(s_d, color="0.6", ls=":", lw=1)
        ax.text(s_d, 0.5, f" $\\sigma_\\delta$, $\\delta$={delta:g}", rotation=90, fontsize=7, color="0.4")
    ax.grid(alpha=0.3, which="both")
    ax = axes[1]
    tc = np.array([_m(r, "tc") for r in sel])
    ax.errorbar(
        g,
        np.maximum(tc, 1e-6),
        yerr=np.nan_to_num([_m(r, "tc", "stderr") for r in sel]),
        marker="o",
        label=r"$I(X; Y_{1:n})$ (authors' estimator)",
    )
    asym = np.array([_m(r, "tc_small_bandwidth_asymptote") for r in sel])
    ok = asym > 0
    ax.plot(g[ok], asym[ok], "k--", lw=1, label=r"$\frac{d}{2}\log\frac{1+\gamma^2}{\gamma^2} - \log n$")
    ax.axhline(math.log(100), color="tab:red", ls=":", label=r"$\log n$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"KDE bandwidth $\gamma$")
    ax.set_ylabel("nats")
    ax.set_title("total correlation: not bounded by $\\log n$ (grows as $\\gamma \\to 0$)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.suptitle(
        r"Memorisation vs bandwidth ($n = 100$, $d = 20$, $p_* = N(0, I)$; empirical-score.md §4.5)",
        fontsize=11,
    )
    fig.tight_layout()
    return plots.save(fig, out / "fig_total_correlation")


def _fig_digits(rows, out, plots, plt):
    files = []
    for r in sorted(rows, key=lambda r: r["cell"]["setting"]["early_stop"]):
        info = r["outcome"]["info"]
        panels = [
            ("generated", "generated (at $\\delta$)"),
            ("denoised", "Tweedie-denoised"),
            ("nearest_train", "nearest training digit"),
            ("nearest_heldout", "nearest held-out digit"),
        ]
        k = len(info["generated"])
        fig, axes = plt.subplots(len(panels), k, figsize=(1.05 * k, 1.25 * len(panels) + 0.6))
        for i, (key, lab) in enumerate(panels):
            for j in range(k):
                ax = axes[i, j]
                img = np.asarray(info[key][j], float).reshape(8, 8)
                ax.imshow(img, cmap="gray_r", vmin=0, vmax=16)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(lab, fontsize=7, rotation=0, ha="right", va="center")
                if key == "nearest_train":
                    ax.set_title(f"{info['d_train'][j]:.1f}", fontsize=6)
                if key == "nearest_heldout":
                    ax.set_title(f"{info['d_heldout'][j]:.1f}", fontsize=6)
        delta = r["cell"]["setting"]["early_stop"]
        fig.suptitle(
            f"8×8 digits, empirical optimal score of 500 training images, $\\delta$ = {delta:g}: memorised "
            f"{_m(r, 'memorised_fraction'):.0%} (held-out digits: {_m(r, 'memorised_fraction_fresh'):.0%}); "
            f"closer to a training than to a held-out digit: {_m(r, 'nearest_is_training'):.0%} "
            "(numbers: distances in standardised pixels)",
            fontsize=8,
        )
        fig.tight_layout(rect=(0.06, 0, 1, 0.93))
        files += plots.save(fig, out / f"fig_digits_delta_{delta:g}".replace(".", "p"))
    return files


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.li_chen_li")
    p.add_argument("command", choices=["figures"])
    p.add_argument("--store", required=True)
    p.add_argument("--results", default="results")
    a = p.parse_args(argv)
    files = make_figures(Path(a.results) / "li-chen-li", a.store)
    print("\n".join(str(f) for f in files))
    return 0


def write_verdict(results_dir, source) -> Path:
    """``VERDICT.md``: the study's verdicts in words and small tables, from the stored cells."""
    from sgmbench.analysis import fit_slope

    rows = [r for r in _rows(source) if r["status"] == "ok" and r["outcome"]]
    lines = ["# li-chen-li: verdict", ""]
    se = _part(rows, "score-error")
    if se:
        ns = sorted({int(r["cell"]["extras"]["num_train"]) for r in se})
        reps = sorted({int(r["cell"]["replicate"]) for r in se})
        lines += [
            "## Score error of the empirical optimal score vs n (slope predicted -1)",
            "",
            f"{len(reps)} training sets per n; fitted on the replicates (95% CI); `measured/asymptote`: the "
            "measured error over the closed-form asymptotic J(t)/n at the largest n.",
            "",
            f"| quantity | fitted slope | 95% CI | measured/asymptote at n = {ns[-1]} |",
            "|---|---|---|---|",
        ]
        for key, akey, lab in [
            ("score_error_sq", "score_error_asym", "time average, t_k = k h, k = 1..250")
        ] + [(f"score_error_sq_t{t:g}", f"score_error_asym_t{t:g}", f"t = {t:g}") for t in SINGLE_TIMES]:
            Y = np.full((len(reps), len(ns)), np.nan)
            for r in se:
                Y[
                    reps.index(int(r["cell"]["replicate"])), ns.index(int(r["cell"]["extras"]["num_train"]))
                ] = _m(r, key)
            fit = fit_slope(np.asarray(ns, float), Y, asymptotic="high")
            last = [r for r in se if int(r["cell"]["extras"]["num_train"]) == ns[-1]]
            ratio = np.nanmean([_m(r, key) for r in last]) / np.nanmean([_m(r, akey) for r in last])
            lines.append(
                f"| {lab} | {fit.slope:+.3f} | [{fit.ci_low:+.3f}, {fit.ci_high:+.3f}] | {ratio:.3f} |"
            )
        lines.append("")
    kd = _part(rows, "kde-convergence")
    if kd:
        lines += [
            "## The sampler converges to the Gaussian KDE (n = 100, delta = 0.01)",
            "",
            "| sampler | steps | W2 (floor) | KL(KDE ‖ gen), k-NN | KL(gen ‖ KDE), k-NN + KDE density |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(kd, key=lambda r: (r["cell"]["setting"]["sampler"], r["cell"]["setting"]["steps"])):
            lines.append(
                f"| {r['cell']['setting']['sampler']} | {r['cell']['setting']['steps']} | "
                f"{_m(r, 'w2'):.3f} ({_m(r, 'w2', 'floor'):.3f}) | {_m(r, 'kl'):.3f} | "
                f"{_m(r, 'kl_reverse'):.3f} |"
            )
        lines.append("")
    hl = _part(rows, "headline")
    if hl:
        lines += [
            "## A good score, a bad generative model?",
            "",
            "Exponential integrator, Benton grid, 400 steps, from N(0, sigma_T^2 I). *population*: the score "
            "judged against p_* (its error; Benton et al.'s KL bound for p_delta); *training-law*: the same "
            "score is the exact score of the training law (error 0; the bound for the smoothed training "
            "law). Measured KL/TV: of the KDE law (the sampler's continuous-time output) to the view's "
            "p_delta, exact densities. memorised: Gu et al.'s d1/d2 < 1/3 (chance: the same for fresh "
            "draws of the view's p_delta). index info: I(X; J | Y)/log n, which training point a sample "
            "copies.",
            "",
            "| view | n | delta | score error (time avg) | KL bound (its continuous part) | TV bound "
            "(Pinsker) | "
            "KL measured | TV measured | memorised (chance) | NN distance vs sigma_delta sqrt(d) | "
            "index info |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(
            hl,
            key=lambda r: (
                r["cell"]["extras"]["view"],
                r["cell"]["extras"]["num_train"],
                r["cell"]["setting"]["early_stop"],
            ),
        ):
            lines.append(
                f"| {r['cell']['extras']['view']} | {r['cell']['extras']['num_train']} | "
                f"{r['cell']['setting']['early_stop']:g} | {_m(r, 'score_error_avg'):.3g} | "
                f"{_m(r, 'kl_bound'):.3g} ({_m(r, 'kl_bound_continuous'):.3g}) | "
                f"{_m(r, 'tv_bound_pinsker'):.2f} | "
                f"{_m(r, 'kl_continuous'):.3g} | {_m(r, 'tv_continuous'):.3f} | {_m(r, 'memorised'):.0%} "
                f"({_m(r, 'memorised_chance'):.0%}) | {_m(r, 'nn_distance'):.3f} vs "
                f"{_m(r, 'kde_radius'):.3f} | "
                f"{_m(r, 'index_information'):.2f} |"
            )
        lines.append("")
    mem = _part(rows, "scatter") + _part(rows, "digits")
    if mem:
        lines += [
            "## Memorisation (scatter figure and digits)",
            "",
            "| part | score | delta | memorised (chance) | mean NN distance | sqrt(2 d delta) |",
            "|---|---|---|---|---|---|",
        ]
        for r in mem:
            part = r["cell"]["extras"]["part"]
            score = (
                "exact score of p_*"
                if r["cell"]["extras"]["view"] == "population"
                else "empirical optimal score"
            )
            lines.append(
                f"| {part} | {score} | {r['cell']['setting']['early_stop']:g} | "
                f"{_m(r, 'memorised_fraction'):.0%} ({_m(r, 'memorised_fraction_fresh'):.0%}) | "
                f"{_m(r, 'nn_distance_mean'):.3f} | {_m(r, 'sqrt_2d_delta'):.3f} |"
            )
        lines.append("")
    tc = sorted(_part(rows, "total-correlation"), key=lambda r: r["cell"]["extras"]["bandwidth"])
    if tc:
        lines += [
            "## Total correlation vs bandwidth (n = 100, d = 20)",
            "",
            "| gamma | I(X; J given Y)/log n | I(X; Y_1..n) (nats) | small-gamma asymptote |",
            "|---|---|---|---|",
        ]
        for r in tc:
            lines.append(
                f"| {r['cell']['extras']['bandwidth']:g} | {_m(r, 'index_information_fraction'):.3f} | "
                f"{_m(r, 'tc'):.4g} | {_m(r, 'tc_small_bandwidth_asymptote'):.4g} |"
            )
        lines += [
            "",
            "The authors' total correlation I(X; Y_1..n) is not bounded by log n (empirical-score.md §4.5 "
            "says it is): it grows like (d/2) log((1+gamma^2)/gamma^2) - log n as gamma -> 0. The index "
            "information I(X; J | Y) is the quantity in [0, log n].",
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
