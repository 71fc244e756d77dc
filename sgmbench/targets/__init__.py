"""Data laws with exact noised laws and scores; see :mod:`sgmbench.targets.base` for the contract."""

from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, get_target, targets

__all__ = ["NoisedLaw", "Target", "TargetConstants", "get_target", "targets"]
