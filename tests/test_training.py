"""Learned scores: DSM training, J_SM vs J_DSM, checkpoints, regularisation, L_s, the KFL toy data."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

import sgmbench.targets.toy2d  # noqa: F401  (registers two-moons, four-clusters)
import sgmbench.training  # noqa: F401  (registers the ``learned`` score)
from sgmbench.errors import SgmbenchError
from sgmbench.networks import NetworkConfig, ScoreMLP, build_network
from sgmbench.processes import get_process
from sgmbench.scores import Score, build_score, scores
from sgmbench.targets import get_target
from sgmbench.targets.mixture import MixtureTarget
from sgmbench.targets.toy2d import TwoMoons
from sgmbench.training import (
    LearnedScore,
    TimeDistribution,
    loss_terms,
    make_eval_set,
    one_sided_lipschitz,
    score_matching_losses,
    spec_of,
    train_score,
)

torch.set_num_threads(1)

TARGET = "gaussian:dim=2,mean=0.5,var=0.25;1.0"
PROCESS = "vp-linear"
SMALL = {"width": 32, "depth": 2}
FAST = {
    "steps": 300,
    "batch_size": 128,
    "lr": 3e-3,
    "eval_every": 100,
    "num_eval_times": 32,
    "num_eval_per_time": 32,
}


@pytest.fixture(scope="module")
def gauss():
    return get_target(TARGET), get_process(PROCESS)


@pytest.fixture(scope="module")
def trained(gauss):
    target, process = gauss
    return train_score(target, process, SMALL, FAST)


# ------------------------------------------------------------------------------------------------
# training and the two losses
# ------------------------------------------------------------------------------------------------
def test_training_reduces_dsm_and_sm(trained):
    first, last = trained.history[0], trained.history[-1]
    assert first["phase"] == "init" and last["step"] == FAST["steps"]
    assert last["dsm"] < first["dsm"] - (first["dsm_se"] + last["dsm_se"])
    assert last["sm"] < 0.2 * first["sm"]
    # J_SM <= J_DSM (KFL Cor. 3) at every record
    assert all(rec["sm"] <= rec["dsm"] for rec in trained.history)


def test_training_is_seeded(gauss):
    target, process = gauss
    cfg = dict(FAST, steps=20, eval_every=10)
    a = train_score(target, process, SMALL, cfg)
    b = train_score(target, process, SMALL, cfg)
    c = train_score(target, process, SMALL, dict(cfg, seed=1))
    x = target.sample(16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.score(x, 0.3), b.score(x, 0.3))
    assert not torch.equal(a.score(x, 0.3), c.score(x, 0.3))
    assert a.history[-1]["dsm"] == b.history[-1]["dsm"]


def _exact_gap(process, lam, t_min, horizon):
    r"""Gaussian target: $C = \tfrac12\int\beta\sum_i(1/\sigma_t^2 - 1/(\alpha_t^2\lambda_i + \sigma_t^2))$"""

    def integrand(u):  # t = e^u
        t = math.exp(u)
        a2, s2 = float(process.alpha(t)) ** 2, float(process.sigma2(t))
        return 0.5 * float(process.g2(t)) * sum(1 / s2 - 1 / (a2 * li + s2) for li in lam) * t

    return integrate.quad(integrand, math.log(t_min), math.log(horizon), limit=200, epsabs=1e-10)[0]


def test_gap_is_theta_free_and_matches_vincent_constant(gauss, trained):
    """J_DSM - J_SM is the same for two different networks (paired, within MC error) and equals C."""
    target, process = gauss
    ev = make_eval_set(target, process, num_times=64, num_per_time=64, seed=5)
    other = build_network(NetworkConfig(dim=2, width=16, depth=1, activation="tanh"), seed=9)
    s_a = trained.score.network_scores(ev.x_t, ev.times)
    with torch.no_grad():
        s_b = other(ev.x_t.float(), ev.alpha.float(), ev.sigma.float()).double()
    dsm_a, sm_a = loss_terms(s_a, ev)
    dsm_b, sm_b = loss_terms(s_b, ev)
    assert float(sm_b.mean()) > 10 * float(sm_a.mean())  # genuinely different scores
    diff = (dsm_a - sm_a) - (dsm_b - sm_b)
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / diff.numel() ** 0.5
    exact = _exact_gap(process, [0.25, 1.0], 1e-3, process.default_horizon)
    gap = dsm_a - sm_a
    assert abs(float(gap.mean()) - exact) < 4 * float(gap.std()) / gap.numel() ** 0.5
    # the public helper agrees with the terms
    res = score_matching_losses(trained.score, eval_set=ev)
    assert res["dsm"] == pytest.approx(float(dsm_a.mean()), rel=1e-12)
    assert res["gap"] == pytest.approx(float(gap.mean()), rel=1e-9)


def test_exact_score_has_zero_sm_loss(gauss):
    target, process = gauss
    exact = build_score("exact", target, process)
    res = score_matching_losses(exact, target, process, num_times=8, num_per_time=16)
    assert res["sm"] == pytest.approx(0.0, abs=1e-20)
    assert res["dsm"] == pytest.approx(res["gap"])


@pytest.mark.parametrize("mode", ["importance", "uniform"])
@pytest.mark.parametrize("weighting", ["g2", "sigma2", "one"])
def test_time_weights_integrate_lambda(gauss, mode, weighting):
    """E_q[w(t)] = int lambda dt for both time distributions (the estimators are unbiased)."""
    _, process = gauss
    dist = TimeDistribution(process, 1e-3, 1.0, weighting, mode)
    t, w = dist.sample(200_000, torch.Generator().manual_seed(0))
    assert float(t.min()) >= 1e-3 and float(t.max()) <= 1.0
    exact = integrate.quad(lambda s: float(dist.lam(torch.tensor(s, dtype=torch.float64))), 1e-3, 1.0)[0]
    assert float(w.mean()) == pytest.approx(exact, rel=4 * float(w.std()) / exact / 200_000**0.5 + 1e-9)


def test_ascent_then_descent(gauss):
    """KFL schedule: the loss first rises (gradient ascent), then falls."""
    target, process = gauss
    res = train_score(target, process, SMALL, dict(FAST, ascent_steps=40, steps=200, eval_every=20))
    phases = [rec["phase"] for rec in res.history]
    dsm = [rec["dsm"] for rec in res.history]
    top = max(i for i, p in enumerate(phases) if p == "ascent")
    assert phases[0] == "init" and phases[-1] == "descent"
    assert dsm[top] > 3 * dsm[0]
    assert dsm[-1] < 0.2 * dsm[top]
    assert res.config["final"]["steps"] == 240
    capped = train_score(
        target,
        process,
        SMALL,
        dict(FAST, ascent_steps=1000, ascent_max_loss=3 * dsm[0], steps=5, eval_every=50),
    )
    asc = [r for r in capped.history if r["phase"] == "ascent"]
    assert len(asc) == 1 and asc[0]["step"] < 1000


# ------------------------------------------------------------------------------------------------
# checkpoints and the score contract
# ------------------------------------------------------------------------------------------------
def test_checkpoint_roundtrip(gauss, trained, tmp_path):
    target, process = gauss
    path = trained.save(tmp_path / "ck" / "gauss.pt")
    score = build_score(f"learned:path={path}", target, process)
    assert isinstance(score, LearnedScore) and isinstance(score, Score)
    x = target.sample(64, generator=torch.Generator().manual_seed(1))
    for t in (1e-4, 0.05, 0.5, 1.0):
        assert torch.equal(score(x, t), trained.score(x, t))
    assert score.nfe == 4
    assert score(x, 0.5).dtype == torch.float64 and score(x.float(), 0.5).dtype == torch.float32
    assert score.affine(0.5) is None
    cfg = score.config
    assert cfg["network"] == trained.config["network"]
    assert cfg["train"] == trained.config["train"] and cfg["final"] == trained.config["final"]
    assert cfg["process"] == spec_of(process) and cfg["target"] == spec_of(target)
    assert len(cfg["sha256"]) == 64 and score.describe()["params"]["path"] == str(path)
    # via the registry, and a float64 copy agrees to float32 precision
    same = scores.create(f"learned:path={path},dtype=float64", target=target, process=process)
    assert torch.allclose(same(x, 0.5), score(x, 0.5), rtol=1e-5, atol=1e-5)
    err, se = score.error_sq(0.5, num_samples=512)
    assert err >= 0 and math.isfinite(se)


def test_checkpoint_strict_mismatch(gauss, trained, tmp_path):
    target, process = gauss
    path = trained.save(tmp_path / "g.pt")
    with pytest.raises(SgmbenchError, match="trained for process"):
        build_score(f"learned:path={path}", target, "vp-linear:beta_max=10")
    with pytest.raises(SgmbenchError, match="trained on target"):
        build_score(f"learned:path={path}", "gaussian:dim=2", process)
    # equal up to number formatting is the same target
    same = build_score(f"learned:path={path}", "gaussian:dim=2,mean=0.5,var=0.25;1", process)
    assert same.config["target"] == spec_of(target)
    loose = build_score(f"learned:path={path},strict=false", "gaussian:dim=2", process)
    assert loose.config["process"] == spec_of(process)


def test_learned_score_in_every_sampler(gauss, trained):
    from sgmbench.grids import make_grid
    from sgmbench.samplers import available_samplers, get_sampler, initial_points

    target, process = gauss
    grid = make_grid("uniform", process, 1.0, 1e-3, 20)
    x0 = initial_points(process, 1.0, 400, 2, generator=torch.Generator().manual_seed(0))
    for name in available_samplers():
        trained.score.nfe = 0
        res = get_sampler(name)(process, grid, trained.score, x0).raise_for_failure()
        assert torch.all(torch.isfinite(res.samples)) and res.samples.dtype == torch.float64
        assert trained.score.nfe > 0
        assert torch.allclose(res.samples.mean(0), torch.tensor([0.5, 0.5], dtype=torch.float64), atol=0.3)


# ------------------------------------------------------------------------------------------------
# regularisation
# ------------------------------------------------------------------------------------------------
def test_spectral_norm_and_weight_clipping_bound_the_weights(gauss):
    target, process = gauss
    cfg = dict(FAST, steps=60, eval_every=60)
    sn = train_score(target, process, dict(SMALL, spectral_norm=True), cfg).score.net
    for layer in sn.x_path_linears():
        assert float(torch.linalg.matrix_norm(layer.weight.detach().double(), 2)) <= 1 + 1e-4
    plain = train_score(target, process, SMALL, cfg).score.net
    assert (
        max(float(torch.linalg.matrix_norm(lay.weight.detach(), 2)) for lay in plain.x_path_linears()) > 1.05
    )
    clipped = train_score(target, process, SMALL, dict(cfg, weight_clip=0.05)).score.net
    assert max(float(p.detach().abs().max()) for p in clipped.parameters()) <= float(torch.tensor(0.05))
    assert max(float(p.detach().abs().max()) for p in plain.parameters()) > 0.05


# ------------------------------------------------------------------------------------------------
# one-sided Lipschitz constant
# ------------------------------------------------------------------------------------------------
class _LinearScore(Score):
    name = "linear"

    def __init__(self, target, process, A):
        super().__init__(target, process)
        self.A = A

    def evaluate(self, x, t):
        return x @ self.A.T + 0.3


def test_one_sided_lipschitz_of_affine_scores(gauss):
    target, process = gauss
    A = torch.tensor([[-1.0, 2.0], [0.5, -3.0]], dtype=torch.float64)
    est = one_sided_lipschitz(_LinearScore(target, process, A), [0.1, 0.7], num_points=32, num_pairs=64)
    exact = float(torch.linalg.eigvalsh(0.5 * (A + A.T))[-1])
    assert est.jacobian == pytest.approx((exact, exact), abs=1e-12)
    assert all(p <= exact + 1e-12 for p in est.pairs) and max(est.pairs) > exact - 0.5
    # exact Gaussian score: L_s(t) = -1 / (alpha_t^2 lambda_max + sigma_t^2)
    times = [0.01, 0.2, 1.0]
    est = one_sided_lipschitz(build_score("exact", target, process), times, num_points=32, num_pairs=32)
    want = [-1 / (float(process.alpha(t)) ** 2 * 1.0 + float(process.sigma2(t))) for t in times]
    assert est.value == pytest.approx(want, rel=1e-10)


def test_one_sided_lipschitz_of_learned_score(trained):
    est = one_sided_lipschitz(trained.score, [0.05, 0.5, 1.0], num_points=64, num_pairs=64)
    assert all(math.isfinite(v) for v in est.value)
    assert all(v >= p - 1e-9 for v, p in zip(est.value, est.pairs))
    # a well-trained score of a Gaussian is close to -1/(alpha^2 + sigma^2) at t = 1 (sigma_1 ~ 1)
    assert est.value[-1] == pytest.approx(-1.0, abs=0.35)


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "network",
    [
        {"activation": "swishy"},
        {"width": -4},
        {"depth": 0},
        {"parametrization": "x0"},
        {"dtype": "float16"},
        {"widht": 3},
    ],
)
def test_bad_network_config(gauss, network):
    target, process = gauss
    with pytest.raises(SgmbenchError) as err:
        train_score(target, process, network, {"steps": 1})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "config",
    [
        {"steps": -1},
        {"lr": 0},
        {"weighting": "lik"},
        {"time_sampling": "sobol"},
        {"t_min": 2.0},
        {"stpes": 1},
    ],
)
def test_bad_train_config(gauss, config):
    target, process = gauss
    with pytest.raises(SgmbenchError) as err:
        train_score(target, process, SMALL, config)
    assert "\n" not in str(err.value)


def test_bad_checkpoints(gauss, tmp_path):
    target, process = gauss
    cases = {"missing.pt": None, "corrupt.pt": b"not a checkpoint at all", "other.pt": {"weights": 1}}
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        with pytest.raises(SgmbenchError) as err:
            build_score(f"learned:path={path}", target, process)
        assert "\n" not in str(err.value) and name in str(err.value)
    with pytest.raises(SgmbenchError, match="needs parameter"):
        scores.create("learned", target=target, process=process)


def test_bad_state_dict(gauss, trained, tmp_path):
    target, process = gauss
    path = trained.save(tmp_path / "a.pt")
    blob = torch.load(path, weights_only=True)
    blob["config"]["network"]["width"] = 64
    torch.save(blob, tmp_path / "b.pt")
    with pytest.raises(SgmbenchError, match="inconsistent") as err:
        LearnedScore.load(tmp_path / "b.pt")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------------
# the KFL 2-D data sets
# ------------------------------------------------------------------------------------------------
def test_two_moons_density_and_score():
    moons, fine = TwoMoons(), TwoMoons(num_nodes=512)
    process = get_process(PROCESS)
    x = moons.sample(500, generator=torch.Generator().manual_seed(0))
    for t in (0.0, 1e-3, 0.3):
        a, b = moons.noised(process, t), fine.noised(process, t)
        assert torch.allclose(a.log_prob(x), b.log_prob(x), rtol=0, atol=1e-9)
        assert torch.allclose(a.score(x), b.score(x), rtol=1e-8, atol=1e-8)
    # normalised, and the score is the gradient of log p
    h = 0.01
    g = torch.cartesian_prod(
        torch.arange(-1.0, 1.5, h, dtype=torch.float64), torch.arange(-0.6, 0.9, h, dtype=torch.float64)
    )
    assert float(moons.log_prob(g).exp().sum()) * h * h == pytest.approx(1.0, abs=1e-6)
    law, e = moons.noised(process, 0.01), 1e-6
    fd = torch.stack(
        [
            (law.log_prob(x[:20] + e * u) - law.log_prob(x[:20] - e * u)) / (2 * e)
            for u in torch.eye(2, dtype=torch.float64)
        ],
        -1,
    )
    assert torch.allclose(fd, law.score(x[:20]), rtol=1e-5, atol=1e-4)
    with pytest.raises(SgmbenchError, match="no density"):
        TwoMoons(noise=0.0).log_prob(x)


def test_toy2d_constants_match_samples():
    for target in (get_target("two-moons"), get_target("four-clusters:std=0.2")):
        x = target.sample(200_000, generator=torch.Generator().manual_seed(1))
        c = target.constants()
        assert c.second_moment == pytest.approx(float((x**2).sum(-1).mean()), rel=1e-2)
        assert c.mean_norm == pytest.approx(float(x.mean(0).norm()), abs=5e-3)
        eig = np.linalg.eigvalsh(np.cov(x.numpy().T))
        assert c.cov_eigenvalues == pytest.approx(tuple(eig), rel=2e-2, abs=1e-3)


def test_toy2d_registry_and_reproducibility():
    four = get_target("four-clusters")
    assert isinstance(four, MixtureTarget)
    assert sorted(four.means.abs().flatten().tolist()) == [0.5] * 8
    for spec in ("two-moons:noise=0.05", "four-clusters:spread=1,std=0.1"):
        target = get_target(spec)
        assert spec_of(get_target(spec_of(target))) == spec_of(target)
        a = target.sample(10, generator=torch.Generator().manual_seed(4))
        b = target.sample(10, generator=torch.Generator().manual_seed(4))
        assert torch.equal(a, b) and a.shape == (10, 2)
    with pytest.raises(SgmbenchError):
        get_target("two-moons:dim=3")
    with pytest.raises(SgmbenchError):
        get_target("four-clusters:std=-1")


def test_training_on_two_moons_tracks_sm():
    """Two moons has an exact (quadrature) noised score, so J_SM is tracked there too."""
    res = train_score("two-moons", PROCESS, SMALL, dict(FAST, steps=150, eval_every=150))
    assert res.config["target"] == spec_of(get_target("two-moons"))
    assert res.history[-1]["sm"] is not None and res.history[-1]["sm"] < res.history[0]["sm"]


def test_network_float64_and_score_parametrization(gauss):
    target, process = gauss
    res = train_score(
        target,
        process,
        dict(SMALL, dtype="float64", parametrization="score"),
        dict(FAST, steps=100, eval_every=100),
    )
    assert res.score.net.out.weight.dtype == torch.float64
    assert res.history[-1]["sm"] < res.history[0]["sm"]
    net = ScoreMLP(NetworkConfig(dim=2))
    assert net(torch.zeros(3, 2), torch.ones(3), torch.ones(3)).shape == (3, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_learned_score_follows_the_input_device(gauss, trained, tmp_path):
    from sgmbench.grids import make_grid
    from sgmbench.samplers import get_sampler, initial_points

    target, process = gauss
    score = build_score(f"learned:path={trained.save(tmp_path / 'c.pt')}", target, process)
    x = target.sample(256, generator=torch.Generator().manual_seed(2))
    cpu = score(x, 0.3)
    gpu = score(x.cuda(), 0.3)
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float64
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
    assert score(x, 0.3).device.type == "cpu"
    grid = make_grid("uniform", process, 1.0, 1e-3, 10)
    x0 = initial_points(process, 1.0, 256, 2, generator=torch.Generator().manual_seed(0), device="cuda")
    out = get_sampler("exponential-integrator")(process, grid, score, x0).raise_for_failure()
    assert out.samples.device.type == "cuda" and torch.all(torch.isfinite(out.samples))
    law = get_target("two-moons").noised(process, 0.1)
    assert torch.allclose(law.score(x.cuda()).cpu(), law.score(x), rtol=1e-10, atol=1e-10)
