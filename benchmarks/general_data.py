r"""General (manifold) data: W2 to the data ~ sqrt(delta), TV and KL to p_delta vs N on the uniform and
Benton grids, for a circle, a 2-sphere and a near-singular Gaussian (Lee-Lu-Tan 2023, Chen et al. 2023
Cor. 3, Benton et al. 2024 Thm 1).

Targets (no density at $t = 0$ for the first two; ``bounds-tv-kl.md`` §6.1):

- ``circle``: uniform on the unit circle in $\mathbb R^2$; ``sphere``: uniform on the unit 2-sphere in
  $\mathbb R^3$. Their laws are computed *exactly up to quadrature* by :mod:`benchmarks._tvkl_helpers`:
  with the exact score every iterate's law is rotation-invariant, so the sampler is a Markov chain on the
  radius with a Rice / non-central $\chi_3$ transition density, propagated by trapezoidal quadrature;
  TV and KL between rotation-invariant laws are those of the radial laws, and $W_2$ to the uniform law on
  the sphere is exactly $(E(\|Y\| - R)^2)^{1/2}$ (derived in the helper's docstring);
- ``near-singular gaussian``: $N(0, {\rm diag}(1, 10^{-6}, \dots, 10^{-6}))$ in $\mathbb R^{10}$, the exact
  proxy of ``bounds-tv-kl.md`` §7 (exact laws by :mod:`sgmbench.exact`), whose reference table
  (KL($p_\delta$ ‖ generated) at $\delta = 10^{-3}$, $T = 8$; uniform grid barely converges, Benton grid
  at $N^{-2}$) this study reproduces.

Setting: forward OU ``ou``, exponential integrator, $T = 8$, prior $N(0, \sigma_T^2 I)$, reference law
$p_\delta$ (``reference=early-stopped``) for ``kl`` and ``tv``; ``w2@data`` is $W_2$(generated, $p_0$) and
``w2_early_stop`` is $W_2(p_\delta, p_0)$, a property of the setting (both exact). Grids: ``uniform`` to
$\delta$ (Chen et al.'s; its steps violate $h \lesssim 1/L(\delta) \approx 4\delta^2/R^2$) and ``benton``
(half uniform on $[1, T]$, half geometric on $[\delta, 1]$; Benton et al. Cor. 1).

Planes (explicit points, see :func:`points`; the extras ``N sweep`` and ``delta sweep`` hold the swept value
in their own plane only, so that each rate is fitted on its plane):

1. N sweep at $\delta = 10^{-3}$: N = 20 … 640 (the §7 table);
2. $\delta$ sweep at fixed N (320 full / 160 quick): $\delta = 10^{-1} \dots 10^{-4}$: the $\sqrt\delta$ law
   of $W_2$ to the data, and TV/KL to $p_\delta$ at fixed N (Chen Cor. 3's $L(\delta) \sim \delta^{-2}$
   against Benton's $\log^2(1/\delta)$);
3. (full) a sample-based cross-check on the circle ($\delta = 10^{-2}$, Benton grid, N = 20 and 320,
   n = 4000): exact OT $W_2$, histogram TV and k-NN KL from the metrics package, with their noise floors,
   beside the quadrature values of the same settings.

Predicted (``bounds-tv-kl.md`` §6.2): $W_2(p_\delta, p_0) \propto \delta^{1/2}$ (coupling bound, LLT p. 36);
Benton KL $\propto N^{-1}$ (TV $N^{-1/2}$); Chen Cor. 3 TV $\propto N^{-1/2}$, $\delta^{-2}$.
"""

from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

CELL_FN = "benchmarks._tvkl_helpers:tvkl_cell"
REPORT_FN = "benchmarks._tvkl_helpers:report_general_data"
NEAR_SINGULAR = "gaussian:dim=10,mean=0,var=" + ";".join(["1"] + ["1e-6"] * 9)
TARGETS = {
    "near-singular gaussian": (NEAR_SINGULAR, "exact"),
    "circle": ("circle:dim=2,radius=1", "quadrature"),
    "sphere": ("sphere:dim=3,manifold_dim=2,radius=1", "quadrature"),
}
DELTA0 = 1e-3
FIELDS = ("target", "engine", "series", "steps", "early_stop", "samples", "N sweep", "delta sweep")

PROFILES = {
    "quick": {
        "targets": ["near-singular gaussian", "circle"],
        "N": [20, 80, 320],
        "delta": [1e-1, 1e-2, 1e-3, 1e-4],
        "N_delta": 160,
        "samples": [],
    },
    "full": {
        "targets": ["near-singular gaussian", "circle", "sphere"],
        "N": [20, 40, 80, 160, 320, 640],
        "delta": [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        "N_delta": 320,
        "samples": [20, 320],
    },
}


def points(profile: str) -> list[tuple]:
    """The plane points of a profile (zipped axis ``FIELDS``), crossed with the two grids."""
    p = PROFILES[profile]
    pts = []
    for name in p["targets"]:
        spec, engine = TARGETS[name]
        pts += [(spec, engine, name, n, DELTA0, 2000, n, None) for n in p["N"]]
        pts += [(spec, engine, name, p["N_delta"], d, 2000, None, d) for d in p["delta"]]
    spec, _ = TARGETS["circle"]
    for n in p["samples"]:  # sample-based cross-check and its quadrature twin
        pts += [(spec, "samples", "circle", n, 1e-2, 4000, None, None)]
        pts += [(spec, "quadrature", "circle", n, 1e-2, 4000, None, None)]
    return pts


def _benton_only_for_samples(point) -> bool:
    """The sample-based cross-check (and its twin) runs on the Benton grid only."""
    return not (point.get("samples") == 4000 and point.get("grid") != "benton")


def _axes(profile: str) -> dict:
    return {FIELDS: points(profile), "grid": ["uniform", "benton"]}


STUDY = Study(
    title="General data: W2 ~ sqrt(delta), TV/KL to p_delta vs N on uniform and Benton grids (circle, "
    "sphere, near-singular Gaussian)",
    axes=_axes("quick"),
    base=Setting(process="ou", horizon=8.0, sampler="exponential-integrator", reference="early-stopped"),
    metrics=("kl", "tv", "w2@data", "w2_early_stop"),
    bounds=("chen2023-cor3", "benton2024-thm1", "llt2023-thm7.2", "early-stop-w2", "llt2023-early-stop-w2"),
    cell_fn=CELL_FN,
    report_fn=REPORT_FN,
    rates=(
        Rate("kl", "N sweep", by=("grid", "series"), predicted=-1.0, bound="benton2024-thm1"),
        Rate("tv", "N sweep", by=("grid", "series"), predicted=-0.5, bound="chen2023-cor3"),
        Rate("w2@data", "delta sweep", by=("grid", "series"), predicted=0.5, bound="llt2023-early-stop-w2"),
        Rate("w2_early_stop", "delta sweep", by=("grid", "series"), predicted=0.5, bound="early-stop-w2"),
    ),
    tables=(Table("metrics", index=("engine", "series", "grid", "early_stop", "steps")),),
    figures=(Figure("measured_vs_bound", kind="bound", metric=""),),
    profiles={"quick": {}, "full": _axes("full")},
    where=_benton_only_for_samples,
)
