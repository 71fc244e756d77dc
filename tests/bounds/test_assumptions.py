"""Assumption checks reject exactly where they should, with a reason naming the failed assumption."""

from __future__ import annotations

import pytest

from sgmbench.bounds import BoundContext, get_bound
from sgmbench.setting import Setting

BASE = Setting(target="gaussian:dim=2,mean=1,var=0.5", process="ou", horizon=6.0, steps=50)
ES = dict(early_stop=1e-2, grid="geometric", reference="early-stopped")


def failed(bound: str, setting: Setting, **ctx_kw) -> list[str]:
    ctx = BoundContext.from_setting(setting, **ctx_kw)
    return [c.name for c in get_bound(bound).evaluate(ctx).failed]


@pytest.mark.parametrize(
    "bound,setting,expected",
    [
        ("chen2023-thm2", BASE, []),
        ("chen2023-thm2", BASE.replace(**ES), ["no early stopping", "uniform steps", "step size"]),
        ("chen2023-thm2", BASE.replace(sampler="euler-maruyama"), ["sampler"]),
        ("chen2023-thm2", BASE.replace(process="ve-exp", horizon=1.0), ["forward process"]),
        ("chen2023-thm2", BASE.replace(grid="karras"), ["uniform steps"]),
        ("chen2023-thm2", BASE.replace(steps=10), ["step size"]),  # h L = 0.6 * 2 > 1
        (
            "chen2023-thm2",
            BASE.replace(process="vp-linear", horizon=1.0),
            ["uniform steps"],
        ),  # not uniform in u = B/2
        ("chen2023-cor3", BASE.replace(**ES), ["bounded support", "uniform steps", "step size"]),
        ("chen2023-cor3", BASE.replace(target="circle:dim=2,radius=1", early_stop=0.05), ["step size"]),
        ("chen2023-cor3", BASE.replace(target="circle:dim=2,radius=1", early_stop=0.05, steps=2000), []),
        ("benton2024-thm1", BASE.replace(**ES), []),
        ("benton2024-thm1", BASE, ["early stopping", "step sizes"]),
        ("benton2024-thm1", BASE.replace(**ES, horizon=0.8), ["horizon"]),
        ("benton2024-thm1", BASE.replace(**ES, process="ve-exp", horizon=1.0), ["forward process"]),
        ("gnz2025-w2", BASE, []),
        ("gnz2025-w2", BASE.replace(process="ve-exp", horizon=1.0, steps=200), []),
        ("gnz2025-w2", BASE.replace(sampler="euler-maruyama"), ["sampler"]),
        (
            "gnz2025-w2",
            BASE.replace(target="mixture:dim=2,components=2,separation=4,var=0.5", steps=400),
            ["strong log-concavity", "time regularity (A2)"],
        ),
        ("gnz2025-w2", BASE.replace(score="perturbed:kind=field,size=0.1"), ["score error along iterates"]),
        ("gnz2025-w2", BASE.replace(steps=5), ["step size"]),
        ("kfl2022-thm1", BASE, ["continuous time"]),
        ("llt2023-thm7.2", BASE, ["early stopping", "early stopping"]),
        (
            "llt2023-thm7.2",
            BASE.replace(early_stop=0.5, grid="geometric"),
            ["early stopping"],
        ),  # delta = 1 in LLT clock
        (
            "llt2023-thm7.2",
            BASE.replace(target="mixture:dim=2,components=2,separation=4,var=0.5", **ES),
            ["tails (Assumption 6)"],
        ),
        (
            "llt2023-thm7.2-hessian",
            BASE.replace(target="circle:dim=2,radius=1", **ES),
            ["Hessian bound (Assumption 3)"],
        ),
        ("conforti2025-kl", BASE, []),
        ("conforti2025-kl", BASE.replace(**ES), ["no early stopping", "fixed step size"]),
        ("strasman2025-kl", BASE.replace(target="circle:dim=2,radius=1"), ["finite Fisher information"]),
        ("lcl2024-score-error", BASE, ["empirical optimal score"]),
        ("early-stop-w2", BASE, ["early stopping"]),
        ("llt2023-early-stop-w2", BASE.replace(early_stop=0.8, grid="geometric"), ["delta <= 1"]),
        (
            "gnz2025-gaussian-lower",
            BASE.replace(score="perturbed:kind=bias,size=0.1"),
            ["Gaussian data, exact score"],
        ),
    ],
)
def test_assumption_checks(bound, setting, expected):
    assert failed(bound, setting) == expected


def test_failed_result_has_no_value_and_says_why():
    ctx = BoundContext.from_setting(BASE.replace(**ES))
    res = get_bound("chen2023-thm2").evaluate(ctx)
    assert not res.applicable and res.value is None and res.terms == ()
    row = res.as_dict()
    assert row["failed"][0].startswith("no early stopping: delta = 0.01")


def test_estimated_constants_are_flagged():
    """A mixture's m_0/L_0 are Monte Carlo estimates: a bound built on them says so in its notes."""
    s = BASE.replace(target="mixture:dim=2,components=2,separation=0.5,var=1", process="ou", steps=200)
    ctx = BoundContext.from_setting(s)
    prov = ctx.constants.provenance
    res = get_bound("conforti2025-kl").evaluate(ctx)
    assert res.applicable
    if str(prov.get("fisher_to_standard_normal", "")).startswith("estimated"):
        assert "estimated target constants" in res.notes
