r"""scikit-learn's 8×8 hand-written digits as an empirical target in $\mathbb R^{64}$.

Source: ``sklearn.datasets.load_digits`` (the UCI ML hand-written digits test set, 1797 images of
8×8 pixels with grey levels 0–16; shipped inside the scikit-learn package, so no download). The law is
the empirical law of the (optionally standardised, class-filtered, subsampled) images; its noised
score is the empirical optimal score (:mod:`sgmbench.targets.empirical`).

``standardise=true`` maps every pixel to zero mean and unit variance over the whole data set
(the three pixels that are constant 0 stay 0); ``scale`` multiplies the result (e.g. ``scale=0.0625``
maps raw grey levels to [0, 1]).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import check_positive
from sgmbench.targets.base import targets
from sgmbench.targets.empirical import EmpiricalTarget
from sgmbench.targets.gaussian import DTYPE, check_count, check_flag

DIGITS_SOURCE = "scikit-learn load_digits (UCI ML hand-written digits, 1797 images 8x8, grey levels 0-16)"


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target)


def digits_points(standardise: bool = False, digit: int | None = None, scale: float = 1.0) -> torch.Tensor:
    """The digit images as a float64 ``[n, 64]`` tensor (standardised over all 1797 images if asked)."""
    X, y = _load()
    if standardise:
        mean, std = X.mean(0), X.std(0)
        X = (X - mean) / np.where(std > 0, std, 1.0)
    if digit is not None:
        if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
            raise SgmbenchError(f"digit must be an integer 0..9, got {digit!r}")
        X = X[y == digit]
    return torch.from_numpy(np.ascontiguousarray(X * scale)).to(DTYPE)


@targets.register(
    "digits",
    summary="empirical law of scikit-learn's 8x8 digits in R^64 (standardise=true: per-pixel z-scores)",
    source=DIGITS_SOURCE,
)
def digits(
    standardise: bool = False,
    digit: int | None = None,
    num_train: int | None = None,
    seed: int = 0,
    scale: float = 1.0,
) -> EmpiricalTarget:
    """The 8x8 digits as an empirical target; ``digit`` keeps one class, ``num_train`` a seeded subset."""
    standardise = check_flag("standardise", standardise)
    scale = check_positive("scale", scale)
    points = digits_points(standardise, digit, scale)
    params: dict = {"standardise": standardise}
    if digit is not None:
        params["digit"] = digit
    if scale != 1.0:
        params["scale"] = scale
    if num_train is not None:
        num_train = check_count("num_train", num_train)
        if num_train > points.shape[0]:
            raise SgmbenchError(f"num_train={num_train} exceeds the {points.shape[0]} available images")
        gen = torch.Generator().manual_seed(check_count("seed", seed, 0))
        points = points[torch.randperm(points.shape[0], generator=gen)[:num_train]]
        params.update(num_train=num_train, seed=seed)
    return EmpiricalTarget(points, source=DIGITS_SOURCE, name="digits", params=params)
