"""Scores: registry, build_score, affine forms, exact score errors against Monte Carlo, bad input."""

import math

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import get_process
from sgmbench.scores import Score, build_score, scores
from sgmbench.targets import EmpiricalTarget, get_target

D64 = torch.float64
TARGETS = [
    "gaussian:dim=3,mean=1,var=0.5",
    "gaussian:dim=3,mean=1;0;2,var=0.5,cond=8,rotate=true",
    "mixture:dim=2,components=3,separation=3,var=0.5",
    "circle",
    "empirical-gaussian:dim=2,num_train=30",
]
SPECS = [
    "exact",
    "perturbed:kind=bias,size=0.1",
    "perturbed:kind=scale,size=0.1",
    "perturbed:kind=field,size=0.1",
    "perturbed:kind=bias,size=0.1,schedule=sigma2,direction=random",
    "empirical-optimal:num_train=20",
]


def test_every_registry_entry_is_covered():
    assert {s.split(":")[0] for s in SPECS} == set(scores.names()) - {
        "learned"
    }  # learned: tests/test_training.py


@pytest.mark.parametrize("target_spec", TARGETS)
@pytest.mark.parametrize("spec", SPECS)
def test_interface(spec, target_spec):
    target, process = get_target(target_spec), get_process("vp-linear")
    s = build_score(spec, target, process, seed=1)
    assert isinstance(s, Score) and s.nfe == 0
    x = target.noised(process, 0.3).sample(8, generator=torch.Generator().manual_seed(0))
    out = s(x, 0.3)
    s(x, 0.5)
    assert out.shape == x.shape and out.dtype == D64 and bool(torch.isfinite(out).all()) and s.nfe == 2
    value, se = s.error_sq(0.3, num_samples=256)
    assert math.isfinite(value) and value >= 0 and se >= 0
    assert s.describe()["name"] == spec.split(":")[0]
    ab = s.affine(0.3)
    if ab is not None:
        a, b = ab
        assert a.shape == b.shape == (target.dim,) and a.dtype == b.dtype == D64


@pytest.mark.parametrize("target_spec", TARGETS[:2])
@pytest.mark.parametrize("spec", SPECS[:3] + SPECS[4:5])
@pytest.mark.parametrize("t", [0.05, 0.7])
def test_affine_reproduces_the_score(spec, target_spec, t):
    r"""$s(x, t) = U(a \odot U^\top x + b)$ for Gaussian targets and exact/bias/scale scores."""
    target, process = get_target(target_spec), get_process("vp-linear")
    s = build_score(spec, target, process)
    a, b = s.affine(t)
    _, U = target.eigh()
    x = target.noised(process, t).sample(10, generator=torch.Generator().manual_seed(0))
    xc = x if U is None else x @ U
    y = a * xc + b
    assert torch.allclose(s(x, t), y if U is None else y @ U.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS[:5])
def test_affine_grid_stacks_affine(spec):
    target, process = get_target(TARGETS[1]), get_process("vp-cosine")
    s = build_score(spec, target, process)
    times = torch.tensor([0.01, 0.2, 0.5, 0.9], dtype=D64)
    if s.affine(0.2) is None:
        with pytest.raises(SgmbenchError):
            s.affine_grid(times)
        return
    grid = s.affine_grid(times)
    rows = [s.affine(float(t)) for t in times]
    assert torch.allclose(grid[0], torch.stack([r[0] for r in rows]), rtol=1e-13)
    assert torch.allclose(grid[1], torch.stack([r[1] for r in rows]), rtol=1e-13, atol=1e-15)


def test_exact_affine_closed_form():
    target, process = get_target("gaussian:dim=2,mean=1;-1,var=2;0.5"), get_process("ou")
    a, b = build_score("exact", target, process).affine(0.4)
    al, s2 = math.exp(-0.4), 1 - math.exp(-0.8)
    lam_t = al**2 * torch.tensor([2.0, 0.5], dtype=D64) + s2
    assert torch.allclose(a, -1 / lam_t, rtol=1e-14) and torch.allclose(
        b, al * torch.tensor([1.0, -1.0], dtype=D64) / lam_t
    )


def test_affine_is_none_where_not_affine():
    p = get_process("vp-linear")
    assert build_score("perturbed:kind=field,size=0.1", get_target("gaussian:dim=2"), p).affine(0.3) is None
    for spec in ("exact", "perturbed:kind=bias,size=0.1"):
        assert build_score(spec, get_target("mixture"), p).affine(0.3) is None
    assert build_score("empirical-optimal:num_train=5", get_target("gaussian:dim=2"), p).affine(0.3) is None


CASES = [
    ("gaussian:dim=3,mean=1;0;2,var=0.5,cond=8,rotate=true", "perturbed:kind=scale,size=0.2"),
    ("gaussian:dim=3,mean=1;0;2,var=0.5,cond=8,rotate=true", "perturbed:kind=field,size=0.2"),
    (
        "gaussian:dim=3,mean=1;0;2,var=0.5,cond=8,rotate=true",
        "perturbed:kind=field,size=0.2,schedule=sigma2,length=0.3",
    ),
    ("mixture:dim=2,components=3,separation=3,var=0.5,weights=0.2;0.3;0.5", "perturbed:kind=field,size=0.3"),
    ("mixture:dim=2,components=3,separation=3,var=0.5", "perturbed:kind=scale,size=0.3"),
    ("circle:dim=3", "perturbed:kind=field,size=0.3"),
    ("circle:dim=3", "perturbed:kind=scale,size=0.3,schedule=sigma2"),
    ("gaussian:dim=2", "perturbed:kind=bias,size=0.5,schedule=sigma2"),
]


@pytest.mark.parametrize("target_spec,spec", CASES)
@pytest.mark.parametrize("t", [0.05, 0.5])
def test_error_sq_against_monte_carlo(target_spec, spec, t):
    r"""Reported $\varepsilon_t^2$ vs an independent Monte Carlo of $E_{p_t}\|\hat s - \nabla\log p_t\|^2$
    (4 standard errors)."""
    target, process = get_target(target_spec), get_process("vp-linear")
    s = build_score(spec, target, process, seed=5)
    value, se = s.error_sq(t)
    law = target.noised(process, t)
    n = 40_000
    x = law.sample(n, generator=torch.Generator().manual_seed(99))
    err = ((s(x, t) - law.score(x)) ** 2).sum(-1)
    mc, mc_se = float(err.mean()), float(err.std()) / math.sqrt(n)
    assert abs(mc - value) <= 4 * math.hypot(se, mc_se) + 1e-12 * value, (mc, mc_se, value, se)
    if target.is_gaussian or target.name == "mixture":
        if "field" in spec or "bias" in spec or target.is_gaussian:
            assert se == 0.0


def test_bias_sizes_exact():
    target, process = get_target("gaussian:dim=4"), get_process("vp-linear")
    s = build_score("perturbed:kind=bias,size=0.3", target, process)
    x = torch.zeros(3, 4, dtype=D64)
    diff = s(x, 0.2) - target.noised(process, 0.2).score(x)
    assert torch.allclose(diff, torch.full((3, 4), 0.15, dtype=D64)) and s.error_sq(0.2) == (0.09, 0.0)
    s2 = build_score("perturbed:kind=bias,size=0.3,schedule=sigma2", target, process)
    assert math.isclose(s2.error_sq(0.2)[0], 0.09 / float(process.sigma2(0.2)) ** 2, rel_tol=1e-14)


def test_seed_controls_random_parts():
    target, process = get_target("gaussian:dim=3"), get_process("vp-linear")
    x = torch.randn(5, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    f = lambda seed, spec="perturbed:kind=field,size=0.1": build_score(spec, target, process, seed=seed)(
        x, 0.3
    )
    assert torch.equal(f(1), f(1)) and not torch.equal(f(1), f(2))
    assert torch.equal(f(1), f(2, "perturbed:kind=field,size=0.1,seed=1"))  # a seed in the spec wins
    e = lambda seed: build_score("empirical-optimal:num_train=10", target, process, seed=seed)(x, 0.3)
    assert torch.equal(e(0), e(0)) and not torch.equal(e(0), e(1))


def test_empirical_optimal_is_the_empirical_target_score():
    target, process = get_target("gaussian:dim=2,mean=1,var=2"), get_process("ou")
    s = build_score("empirical-optimal:num_train=25", target, process, seed=4)
    pts = target.sample(25, generator=torch.Generator().manual_seed(4))
    x = torch.randn(6, 2, dtype=D64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(s(x, 0.5), EmpiricalTarget(pts).noised(process, 0.5).score(x), rtol=1e-13)
    assert s.training.num_points == 25


def test_build_score_accepts_specs_and_instances():
    s = build_score("exact", "gaussian:dim=2", "vp-linear")
    assert build_score(s, None, None) is s and s.target.dim == 2


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "perturbed:kind=wobble,size=0.1",
        "perturbed:kind=bias,size=-1",
        "perturbed:size=abc",
        "perturbed:kind=bias,size=0.1,schedule=late",
        "perturbed:kind=bias,size=0.1,direction=up",
        "exact:foo=1",
        "empirical-optimal:num_train=0",
        "perturbed:kind=field,size=0.1,features=0",
        "exact:target=1",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        build_score(spec, get_target("gaussian:dim=2"), get_process("vp-linear"))
    msg = str(err.value)
    assert "\n" not in msg and msg
    if spec == "nope":
        assert all(name in msg for name in scores.names())
    if "wobble" in spec:
        assert "bias, scale, field" in msg


def test_sigma2_schedule_undefined_at_zero_noise():
    s = build_score(
        "perturbed:kind=bias,size=0.1,schedule=sigma2", get_target("gaussian:dim=2"), get_process("vp-linear")
    )
    with pytest.raises(SgmbenchError):
        s(torch.zeros(1, 2, dtype=D64), 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("target_spec", TARGETS)
@pytest.mark.parametrize("spec", SPECS)
def test_cuda_matches_cpu(spec, target_spec):
    target, process = get_target(target_spec), get_process("vp-linear")
    s = build_score(spec, target, process, seed=1)
    x = target.noised(process, 0.3).sample(16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(s(x.cuda(), 0.3).cpu(), s(x, 0.3), rtol=1e-10, atol=1e-10)
