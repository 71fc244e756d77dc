"""Data laws with exact noised laws and scores; see :mod:`sgmbench.targets.base` for the contract.

Importing this package registers every target in :data:`targets` (``gaussian``, ``mixture``,
``empirical-gaussian``, ``empirical-mixture``, ``circle``, ``sphere``, ``digits``).
"""

from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, get_target, targets
from sgmbench.targets.digits import digits  # noqa: F401  (registers ``digits``)
from sgmbench.targets.empirical import EmpiricalNoisedLaw, EmpiricalTarget
from sgmbench.targets.gaussian import GaussianNoisedLaw, GaussianTarget
from sgmbench.targets.mixture import MixtureNoisedLaw, MixtureTarget
from sgmbench.targets.sphere import SphereNoisedLaw, SphereTarget

__all__ = [
    "EmpiricalNoisedLaw",
    "EmpiricalTarget",
    "GaussianNoisedLaw",
    "GaussianTarget",
    "MixtureNoisedLaw",
    "MixtureTarget",
    "NoisedLaw",
    "SphereNoisedLaw",
    "SphereTarget",
    "Target",
    "TargetConstants",
    "available_targets",
    "get_target",
    "targets",
]


def available_targets() -> list[str]:
    return targets.names()
