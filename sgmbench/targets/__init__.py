"""Data laws with exact noised laws and scores; see :mod:`sgmbench.targets.base` for the contract.

Importing this package registers every target in :data:`targets` (``gaussian``, ``mixture``,
``empirical-gaussian``, ``empirical-mixture``, ``circle``, ``sphere``, ``digits``, and the 2-D sets
``two-moons`` and ``four-clusters`` of :mod:`sgmbench.targets.toy2d`).
"""

from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, get_target, targets
from sgmbench.targets.digits import digits  # noqa: F401  (registers ``digits``)
from sgmbench.targets.empirical import EmpiricalNoisedLaw, EmpiricalTarget
from sgmbench.targets.gaussian import GaussianNoisedLaw, GaussianTarget
from sgmbench.targets.mixture import MixtureNoisedLaw, MixtureTarget
from sgmbench.targets.sphere import SphereNoisedLaw, SphereTarget
from sgmbench.targets.toy2d import FourClusters, TwoMoons

__all__ = [
    "EmpiricalNoisedLaw",
    "EmpiricalTarget",
    "FourClusters",
    "GaussianNoisedLaw",
    "GaussianTarget",
    "MixtureNoisedLaw",
    "MixtureTarget",
    "NoisedLaw",
    "SphereNoisedLaw",
    "SphereTarget",
    "Target",
    "TargetConstants",
    "TwoMoons",
    "available_targets",
    "get_target",
    "targets",
]


def available_targets() -> list[str]:
    return targets.names()
