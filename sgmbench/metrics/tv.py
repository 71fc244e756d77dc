r"""TV from samples: equal-mass histograms (d ≤ 2) and a classifier two-sample test (a lower bound).

Known densities are handled by :mod:`sgmbench.metrics.montecarlo` (unbiased, any d); Gaussian pairs by
:mod:`sgmbench.metrics.gaussian` (exact).

* :func:`tv_histogram`: $\widehat{\rm TV}=\tfrac12\sum_j|\hat p_j-\hat q_j|$ over $B$ cells of equal pooled
  mass.
  Binning biases it *down* (data processing: binned TV ≤ TV), sampling noise *up*: for $P=Q$,
  $E\widehat{\rm TV}\approx\sum_j\sqrt{r_j(1-r_j)(1/n+1/m)/(2\pi)}\le\sqrt{B/(\pi n)}$ (metrics-and-exact
  §4.3).
* :func:`tv_classifier`: held-out accuracy of a classifier between balanced samples gives
  ${\rm TV}\ge 2\,{\rm acc}-1$ (Bayes accuracy is $\tfrac12(1+{\rm TV})$; Lopez-Paz & Oquab 2017 for the C2ST;
  metrics-and-exact §2). Logistic regression on quadratic features is Bayes-optimal for Gaussian
  pairs (their log-likelihood ratio is quadratic).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sgmbench.errors import SgmbenchError
from sgmbench.metrics._util import as_samples, check_same_dim
from sgmbench.metrics.record import MetricRecord, make_record, timer

__all__ = ["equal_mass_cells", "tv_histogram", "histogram_tv_floor", "tv_classifier"]

HISTOGRAM_MAX_DIM = 2


def _default_bins(n: int, d: int) -> int:
    b = max(4, int(round(n ** (1.0 / 3.0))))
    if d == 2:
        b = 2 ** max(2, int(round(math.log2(b))))
    return b


def equal_mass_cells(pooled: np.ndarray, bins: int) -> np.ndarray:
    """Cell index in ``[0, bins)`` of each row of ``pooled`` ([N, d], d ≤ 2), cells of equal pooled mass.

    d = 1: pooled quantiles. d = 2: ``log2(bins)`` rounds of median splits alternating the axes (a k-d
    partition into "statistically equivalent blocks", Anderson 1966); ``bins`` must be a power of 2.
    Ties are split by rank, so every cell holds ``N / bins`` points (±1).
    """
    N, d = pooled.shape
    if d == 1:
        order = np.argsort(pooled[:, 0], kind="stable")
        cells = np.empty(N, dtype=np.int64)
        cells[order] = (np.arange(N) * bins) // N
        return cells
    levels = int(round(math.log2(bins)))
    if 2**levels != bins:
        raise SgmbenchError(f"2-D histogram TV needs a power-of-2 number of bins, got {bins}")
    cells = np.zeros(N, dtype=np.int64)
    for level in range(levels):
        axis = level % d
        new = np.empty_like(cells)
        for node in np.unique(cells):
            idx = np.flatnonzero(cells == node)
            order = idx[np.argsort(pooled[idx, axis], kind="stable")]
            half = order.shape[0] // 2
            new[order[:half]] = 2 * node
            new[order[half:]] = 2 * node + 1
        cells = new
    return cells


def histogram_tv_floor(cell_mass: np.ndarray, n: int, m: int) -> float:
    r"""Expected histogram TV between two samples ($n$, $m$ points) of one law with cell masses $r_j$.

    $E\widehat{\rm TV}\approx\sum_j\sqrt{\frac{r_j(1-r_j)}{2\pi}\big(\frac1n+\frac1m\big)}$ (each $\hat
    p_j-\hat q_j$ is
    approximately $N(0,r_j(1-r_j)(1/n+1/m))$ and $E|N(0,\sigma^2)|=\sigma\sqrt{2/\pi}$; metrics-and-exact
    §4.3).
    """
    r = np.asarray(cell_mass, float)
    return float(np.sum(np.sqrt(r * (1 - r) * (1.0 / n + 1.0 / m) / (2 * math.pi))))


def tv_histogram(x: Any, y: Any, bins: int | None = None) -> MetricRecord:
    r"""TV between the laws of ``x`` and ``y`` (d ≤ 2) from a histogram on equal-mass pooled cells.

    $$\widehat{\rm TV}=\tfrac12\sum_{j=1}^B\big|\hat p_j-\hat q_j\big|$$
    (metrics-and-exact §4.3). Default $B\approx n^{1/3}$ (a power of 2 in 2-D). The record's ``floor`` is the
    analytic floor of :func:`histogram_tv_floor` (the dispatcher replaces it by a measured one).
    stderr (delta method, derived by us): $\tfrac12\big[{\rm Var}_P(s(X))/n+{\rm Var}_Q(s(Y))/m\big]^{1/2}$
    with
    $s$ the sign of $\hat p_j-\hat q_j$ on $X$'s cell.
    """
    x, y = as_samples(x, "x"), as_samples(y, "y")
    d = check_same_dim(x, y)
    if d > HISTOGRAM_MAX_DIM:
        raise SgmbenchError(f"histogram TV is for d <= {HISTOGRAM_MAX_DIM}, got d = {d}; use the classifier")
    n, m = x.shape[0], y.shape[0]
    if bins is None:
        bins = _default_bins(min(n, m), d)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise SgmbenchError(f"bins must be an integer >= 2, got {bins!r}")
    if bins > (n + m) // 2:
        raise SgmbenchError(f"bins = {bins} is too many for {n + m} pooled points")
    with timer() as t:
        cells = equal_mass_cells(np.vstack([x, y]), int(bins))
        cx, cy = cells[:n], cells[n:]
        p = np.bincount(cx, minlength=bins) / n
        q = np.bincount(cy, minlength=bins) / m
        value = 0.5 * float(np.abs(p - q).sum())
        sign = np.sign(p - q)
        se = 0.5 * math.sqrt(sign[cx].var(ddof=1) / n + sign[cy].var(ddof=1) / m)
        floor = histogram_tv_floor((p * n + q * m) / (n + m), n, m)
    return make_record(
        "tv",
        value,
        se,
        lo=0.0,
        hi=1.0,
        floor=floor,
        n=n,
        estimator=f"histogram:bins={bins}",
        runtime_s=t(),
        dim=d,
        note=f"{bins} equal-mass cells; binning biases down, noise up (analytic floor {floor:.3g})",
    )


def _classifier(model: str, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    if model == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if model == "quadratic":
        return make_pipeline(
            StandardScaler(),
            PolynomialFeatures(2, include_bias=False),
            StandardScaler(),
            LogisticRegression(max_iter=2000),
        )
    if model == "mlp":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier((64, 64), early_stopping=True, max_iter=500, random_state=seed),
        )
    raise SgmbenchError(f"unknown classifier {model!r}; valid: auto, linear, quadratic, mlp")


def tv_classifier(
    x: Any, y: Any, model: str = "auto", test_fraction: float = 0.5, seed: int = 0
) -> MetricRecord:
    r"""A held-out **lower bound** on TV from a classifier two-sample test: ${\rm TV}\ge 2\,{\rm acc}-1$.

    With balanced classes the Bayes classifier has accuracy $\tfrac12(1+{\rm TV})$, so any classifier's
    expected held-out accuracy gives $2\,{\rm acc}-1\le{\rm TV}$ (metrics-and-exact §2, "Classifier";
    C2ST: Lopez-Paz & Oquab 2017, ICLR). ``model``: ``quadratic`` (logistic regression on degree-2
    features, Bayes-optimal for Gaussian pairs), ``linear``, ``mlp`` (sklearn, 2×64), ``auto`` =
    quadratic for d ≤ 20, linear above. Both samples are cut to the same size; a ``test_fraction``
    of each is held out. ``value = max(0, 2 acc - 1)``; stderr $=2\sqrt{{\rm acc}(1-{\rm acc})/n_{\rm test}}$
    (binomial).
    """
    x, y = as_samples(x, "x"), as_samples(y, "y")
    d = check_same_dim(x, y)
    if not (0.0 < float(test_fraction) < 1.0):
        raise SgmbenchError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if model == "auto":
        model = "quadratic" if d <= 20 else "linear"
    n = min(x.shape[0], y.shape[0])
    n_test = int(round(n * test_fraction))
    if n_test < 10 or n - n_test < 10:
        raise SgmbenchError(
            f"classifier TV needs at least 10 train and 10 test points per class, got n = {n}"
        )
    with timer() as t:
        rng = np.random.default_rng(seed)
        xi = rng.permutation(x.shape[0])[:n]
        yi = rng.permutation(y.shape[0])[:n]
        xa, ya = x[xi], y[yi]
        train = np.vstack([xa[n_test:], ya[n_test:]])
        labels = np.concatenate([np.zeros(n - n_test), np.ones(n - n_test)])
        test = np.vstack([xa[:n_test], ya[:n_test]])
        test_labels = np.concatenate([np.zeros(n_test), np.ones(n_test)])
        clf = _classifier(model, seed)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(train, labels)
        acc = float(np.mean(clf.predict(test) == test_labels))
        raw = 2 * acc - 1
        se = 2 * math.sqrt(max(acc * (1 - acc), 0.25 / (2 * n_test)) / (2 * n_test))
    rec = make_record(
        "tv",
        max(raw, 0.0),
        se,
        lo=0.0,
        hi=1.0,
        n=n,
        estimator=f"classifier:model={model}",
        runtime_s=t(),
        dim=d,
        kind="lower_bound",
        note=f"TV >= 2 acc - 1 (held-out acc {acc:.4f} on {2 * n_test} points; raw {raw:.4g})",
    )
    lo, hi = raw - 1.959963984540054 * se, raw + 1.959963984540054 * se
    return rec.replace(ci_low=min(max(lo, 0.0), 1.0), ci_high=min(max(hi, 0.0), 1.0))
