"""One measurement setting: everything that determines a number, as plain (hashable, JSON-able) data.

A :class:`Setting` is what ``sgmbench measure`` resolves from its flags and what a study's Cell holds.
Specs are strings (``gaussian:dim=10,mean=1,var=0.5``) so that a setting serialises to JSON and its
hash is stable across machines; :meth:`Setting.resolve` builds the objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from sgmbench.errors import SgmbenchError
from sgmbench.registry import check_positive


@dataclasses.dataclass(frozen=True)
class Setting:
    """A full measurement setting (defaults as in the ``sgmbench measure`` contract).

    - ``target``, ``process``, ``score``: registry specs; ``horizon``: T (``None``: the process default);
    - ``sampler``, ``grid``, ``steps``: how the reverse process is discretised;
    - ``early_stop``: delta >= 0; ``reference``: ``data`` (compare with p_0) or ``early-stopped`` (p_delta);
    - ``prior``: ``gaussian`` (N(0, sigma_T^2 I)) or ``exact`` (p_T itself);
    - ``samples``, ``seed``: used when the law is not exactly computable; ``device``: ``cpu`` or ``cuda``.
    """

    target: str = "gaussian:dim=2,mean=0,var=1"
    process: str = "vp-linear"
    horizon: float | None = None
    sampler: str = "exponential-integrator"
    grid: str = "uniform"
    steps: int = 100
    early_stop: float = 0.0
    reference: str = "data"
    prior: str = "gaussian"
    score: str = "exact"
    samples: int = 2000
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise SgmbenchError(f"steps must be a positive integer, got {self.steps!r}")
        if self.horizon is not None:
            check_positive("horizon", self.horizon)
        check_positive("early_stop", self.early_stop, allow_zero=True)
        if self.reference not in ("data", "early-stopped"):
            raise SgmbenchError(f"reference must be 'data' or 'early-stopped', got {self.reference!r}")
        if self.prior not in ("gaussian", "exact"):
            raise SgmbenchError(f"prior must be 'gaussian' or 'exact', got {self.prior!r}")
        if not isinstance(self.samples, int) or self.samples < 2:
            raise SgmbenchError(f"samples must be an integer >= 2, got {self.samples!r}")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise SgmbenchError(f"device must be 'cpu' or 'cuda', got {self.device!r}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Stable hash of the setting (sha256 of its canonical JSON): the cache key of a cell."""
        blob = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def replace(self, **changes: Any) -> Setting:
        return dataclasses.replace(self, **changes)

    def resolve(self):
        """Build ``(target, process, horizon)`` from the specs; bad names raise :class:`SgmbenchError`."""
        from sgmbench.processes import get_process
        from sgmbench.targets import get_target

        process = get_process(self.process)
        horizon = process.check_horizon(self.horizon if self.horizon is not None else process.default_horizon)
        if self.early_stop >= horizon:
            raise SgmbenchError(f"early_stop ({self.early_stop}) must be < horizon ({horizon})")
        return get_target(self.target), process, horizon
