"""Demo: W2, KL and TV vs number of steps for two samplers on two VP processes (exact Gaussian laws).

A small end-to-end example of a study. The target is Gaussian and the score exact, so every law is
computed exactly (no sampling noise) and the fitted slopes are the samplers' orders: started from
$p_T$ itself (``prior=exact``) the only error is the discretisation's, so $W_2$ and TV decay like
$N^{-1}$ (weak order 1) and KL like $N^{-2}$ (KL is quadratic in a small perturbation of the law).
"""

from sgmbench.setting import Setting
from sgmbench.study import Figure, Rate, Study, Table

STUDY = Study(
    axes={
        "process": ["vp-constant:beta=2", "vp-linear"],
        "sampler": ["exponential-integrator", "euler-maruyama"],
        "steps": [8, 16, 32, 64],
        "dim": [4],
    },
    base=Setting(target="gaussian:dim=4,mean=1,var=0.5", prior="exact"),
    metrics=("w2", "kl", "tv"),
    bounds=("chen2023-thm2", "conforti2025-kl", "gnz2025-w2", "gnz2025-gaussian-lower"),
    rates=(
        Rate("w2", "steps", predicted=-1.0, tail=3),
        Rate("kl", "steps", predicted=-2.0, tail=3),
        Rate("tv", "steps", predicted=-1.0, tail=3),
    ),
    tables=(Table("metrics", index=("process", "sampler", "dim", "steps")),),
    figures=(
        Figure("w2_vs_steps", metric="w2", x="steps", hue="sampler", col="process", row="dim"),
        Figure("kl_vs_steps", metric="kl", x="steps", hue="sampler", col="process", row="dim"),
        Figure("tv_vs_steps", metric="tv", x="steps", hue="sampler", col="process", row="dim"),
        Figure("measured_vs_bound", kind="bound", metric=""),
    ),
    profiles={
        "quick": {},
        "full": {"steps": [8, 16, 32, 64, 128, 256, 512, 1024], "dim": [1, 4, 16, 64]},
    },
)
