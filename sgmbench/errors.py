"""The one exception type sgmbench raises for bad input.

Every user-facing error (unknown registry name, unparsable spec, impossible parameter, corrupt store)
is a :class:`SgmbenchError` whose message is a single line naming the bad value and, where there is a
finite set, the valid choices. The CLI prints it as ``error: <message>`` and exits with status 2.
"""

from __future__ import annotations


class SgmbenchError(ValueError):
    """Bad input to sgmbench: a one-line message naming the bad value and the valid choices."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class DivergenceError(SgmbenchError):
    """A sampler produced non-finite or exploding values; ``step`` is the step at which it happened."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


def require(condition: bool, message: str) -> None:
    """Raise :class:`SgmbenchError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SgmbenchError(message)
