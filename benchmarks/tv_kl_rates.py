r"""TV and KL rates of the exponential-integrator SDE sampler vs Chen et al. 2023 Thm 2, Benton et al. 2024
Thm 1 and Conforti et al. 2025 (and Strasman et al. 2025): how TV(p_0, generated) and KL(p_0 or p_delta ||
generated) scale with the number of steps N, the dimension d, the score error eps and the horizon T on
Gaussian targets (exact laws), and with the mode separation D of a Gaussian mixture (exact to quadrature),
where Chen et al.'s Lipschitz constant L ~ D^2/4 grows and Benton et al.'s bound has no L.

Setting (the papers' own): forward OU process ``ou`` ($dX = -X\,dt + \sqrt2\,dW$), exponential
integrator, prior $N(0, \sigma_T^2I)$, $T = 8$ unless swept. Two arms (zipped axes ``grid``,
``early_stop``, ``reference``):

- ``uniform``: uniform grid, $\delta = 0$, metrics against $p_0$ — Chen et al. Thm 2 (TV), Conforti et
  al. and Strasman et al. (KL) apply;
- ``benton``: the Benton et al. Cor. 1 grid (half uniform on $[1, T]$, half geometric on $[\delta, 1]$),
  $\delta = 10^{-3}$, metrics against $p_\delta$ — Benton et al. Thm 1 (KL) applies.

Planes (every cell is listed explicitly in :func:`points`; the extras ``N sweep``, ``d sweep``, ``eps sweep``,
``T sweep``, ``D sweep`` carry the swept value in their own plane only, so each rate is fitted on its plane):

1. N sweep, Gaussian $N(\mathbf 1, 0.5 I_{10})$ (``series = gaussian d=10``);
2. d sweep at N = 1024 (exact score), target $N(\mathbf 1, 0.5I_d)$;
3. score-error sweep at N = 1024, d = 10: ``perturbed:kind=bias,size=eps`` (a constant vector of norm
   eps added to the score: $\varepsilon_t = \varepsilon$ exactly, the generated law stays Gaussian);
4. T sweep at N = 64 and 1024 (figure only: the $e^{-T}$ initialisation decay is not a power law);
5. mixtures $\tfrac12N(-\tfrac D2, 1) + \tfrac12N(\tfrac D2, 1)$ in d = 1, D = 2, 4, 8, 16, N sweep, by the
   quadrature engine of :mod:`benchmarks._tvkl_helpers` (the EI step's transition density integrated on
   an adaptive grid; validated against the exact Gaussian recursion to 1e-10 in KL). Chen et al.'s $L$ is
   the derived shared-variance mixture bound $\max(1, D^2/4 - 1)$ (bounds-tv-kl.md §2.6(b)), evaluated by
   the helper because the registry's Lipschitz bound needs log-concavity;
6. (full) a sample-based cross-check of plane 5 (D = 8): the metrics package's estimators (histogram TV,
   k-NN KL, with their noise floors) on 20000 samples, beside the quadrature values of the same settings.

Predicted exponents (bounds-tv-kl.md §6.2): TV ~ N^{-1/2}, d^{1/2}, eps^1, L^1 ~ D^2 (Chen Thm 2); KL ~
N^{-1}, d^1, eps^2, no L (Benton Thm 1; Conforti: N^{-1}, d through the Fisher information). Known from
bounds-tv-kl.md §7: the measured KL falls like N^{-2} (TV like N^{-1}), twice as fast as every Girsanov bound.
"""

from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

CELL_FN = "benchmarks._tvkl_helpers:tvkl_cell"
REPORT_FN = "benchmarks._tvkl_helpers:report_tv_kl_rates"
GAUSS = "gaussian:dim={d},mean=1,var=0.5"
MIXTURE = "mixture:dim=1,components=2,separation={D},var=1"
ARMS = [("uniform", 0.0, "data"), ("benton", 1e-3, "early-stopped")]
FIELDS = (
    "target",
    "score",
    "horizon",
    "steps",
    "samples",
    "engine",
    "series",
    "N sweep",
    "d sweep",
    "eps sweep",
    "T sweep",
    "D sweep",
)
D0, N_FIXED, T0 = 10, 1024, 8.0

PROFILES = {
    "quick": {
        "N": [16, 64, 256, 1024],
        "d": [1, 10, 100],
        "eps": [0.1, 0.4, 1.6],
        "T": [1.0, 2.0, 4.0, 8.0],
        "T_steps": [64],
        "D": [2, 8],
        "samples": [],
    },
    "full": {
        "N": [16, 32, 64, 128, 256, 512, 1024],
        "d": [1, 3, 10, 30, 100, 300],
        "eps": [0.05, 0.1, 0.2, 0.4, 0.8, 1.6],
        "T": [0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0],
        "T_steps": [64, 1024],
        "D": [2, 4, 8, 16],
        "samples": [16, 64, 256],
    },
}


def _pt(
    target,
    steps,
    *,
    score="exact",
    horizon=T0,
    samples=2000,
    engine="exact",
    series="gaussian d=10",
    N=None,
    d=None,
    score_error=None,
    T=None,
    separation=None,
):
    """One plane point; ``N``, ``d``, ``score_error``, ``T``, ``separation`` fill the extras ``N sweep``,
    ``d sweep``, ``eps sweep``, ``T sweep``, ``D sweep`` (None outside their plane)."""
    return (target, score, horizon, steps, samples, engine, series, N, d, score_error, T, separation)


def points(profile: str) -> list[tuple]:
    """Every plane point of a profile (the zipped axis ``FIELDS``); the arms are crossed with them."""
    p = PROFILES[profile]
    g0 = GAUSS.format(d=D0)
    pts = [_pt(g0, n, N=n) for n in p["N"]]
    pts += [_pt(GAUSS.format(d=d), N_FIXED, d=d) for d in p["d"]]
    pts += [_pt(g0, N_FIXED, score=f"perturbed:kind=bias,size={e}", score_error=e) for e in p["eps"]]
    pts += [_pt(g0, n, horizon=t, T=t) for t in p["T"] for n in p["T_steps"]]
    for D in p["D"]:
        pts += [
            _pt(MIXTURE.format(D=D), n, engine="quadrature", series=f"mixture D={D}", N=n, separation=D)
            for n in p["N"]
        ]
    pts += [
        _pt(MIXTURE.format(D=8), n, samples=20000, engine="samples", series="mixture D=8")
        for n in p["samples"]
    ]
    return pts


def _not_samples_on_benton(point) -> bool:
    """The sample-based cross-check runs on the uniform arm only."""
    return not (point.get("engine") == "samples" and point.get("grid") == "benton")


def _axes(profile: str) -> dict:
    return {FIELDS: points(profile), ("grid", "early_stop", "reference"): ARMS}


STUDY = Study(
    title="TV and KL vs N, d, score error, T and mode separation (Chen et al. 2023, Benton et al. 2024, "
    "Conforti et al. 2025)",
    axes=_axes("quick"),
    base=Setting(process="ou", horizon=T0, sampler="exponential-integrator"),
    metrics=("kl", "tv"),
    bounds=("chen2023-thm2", "conforti2025-kl", "strasman2025-kl", "benton2024-thm1"),
    cell_fn=CELL_FN,
    rates=(
        Rate("kl", "N sweep", by=("grid", "series"), predicted=-1.0, bound="benton2024-thm1"),
        Rate("tv", "N sweep", by=("grid", "series"), predicted=-0.5, bound="chen2023-thm2"),
        Rate("kl", "d sweep", by=("grid",), predicted=1.0, bound="benton2024-thm1"),
        Rate("tv", "d sweep", by=("grid",), predicted=0.5, bound="chen2023-thm2"),
        Rate("kl", "eps sweep", by=("grid",), predicted=2.0, bound="benton2024-thm1"),
        Rate("tv", "eps sweep", by=("grid",), predicted=1.0, bound="chen2023-thm2"),
        Rate("kl", "D sweep", by=("grid", "steps"), predicted=2.0, bound="conforti2025-kl"),
        Rate("tv", "D sweep", by=("grid", "steps"), predicted=2.0, bound="chen2023-thm2"),
    ),
    tables=(Table("metrics", index=("engine", "target", "score", "grid", "horizon", "steps")),),
    figures=(Figure("measured_vs_bound", kind="bound", metric=""),),
    report_fn=REPORT_FN,
    profiles={"quick": {}, "full": _axes("full")},
    where=_not_samples_on_benton,
)
