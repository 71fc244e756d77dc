"""The OU-clock mapping: a VP process with constant beta is the OU process run at speed beta/2.

vp-constant:beta=4 on [delta, T] is ou on [2 delta, 2T] (u = B(t)/2 = 2t): the exact output laws coincide
and so must every bound that is stated in the OU clock (Chen, Benton, Conforti, Lee-Lu-Tan) or is
clock-free (GNZ, early stopping).
"""

from __future__ import annotations

import pytest
import torch

from sgmbench.bounds import BoundContext, evaluate_bounds
from sgmbench.exact import exact_law
from sgmbench.processes import get_process
from sgmbench.scores import build_score
from sgmbench.targets import get_target


@pytest.mark.parametrize("delta", [0.0, 0.005])
def test_bounds_are_invariant_under_the_time_change(delta):
    target = get_target("gaussian:dim=3,mean=1,var=0.5")
    fast, ou = get_process("vp-constant:beta=4"), get_process("ou")
    grid_fast = torch.linspace(3.0, delta, 101, dtype=torch.float64)
    grid_ou = 2.0 * grid_fast
    ctxs, laws = [], []
    for proc, grid in ((fast, grid_fast), (ou, grid_ou)):
        score = build_score("perturbed:kind=bias,size=0.05", target, proc)
        ctxs.append(BoundContext.from_objects(target, proc, grid, score))
        laws.append(exact_law(target, proc, grid, "exponential-integrator", score))
    assert torch.allclose(laws[0].mean, laws[1].mean, rtol=1e-12) and torch.allclose(laws[0].var, laws[1].var)
    a, b = evaluate_bounds(ctxs[0]), evaluate_bounds(ctxs[1])
    compared = 0
    for ra, rb in zip(a, b):
        assert ra.bound == rb.bound and ra.applicable == rb.applicable
        if ra.applicable and ra.bound != "gnz2025-gaussian-lower":  # sqrt(d) h is clock-dependent
            assert ra.value == pytest.approx(rb.value, rel=1e-9), ra.bound
            compared += 1
    assert compared >= 3
