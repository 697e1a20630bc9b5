"""Errors raised by clipbridge.

The tree::

    ClipBridgeError                 base of everything raised on purpose
    ├── InvalidInputError           one input item is unusable (has ``index``), also a ValueError
    ├── ModelLoadError              a checkpoint could not be found, downloaded or loaded
    └── BackendError                a backend call failed (``status_code``, server message)
        ├── AuthenticationError     missing or rejected API key (401/403)
        └── RateLimitError          429 after every retry

Every error may carry ``partial``: a dict ``{input index: vector}`` of the embeddings that were
computed before the failure, so that nothing already paid for is lost, and ``failed_indices``.
Raised by an :class:`~clipbridge.Embedder`, ``partial`` rows have its output's form (normalized
when it normalizes, at its ``precision``); raised by a backend, they are its raw rows.
Lower-level errors (httpx, PIL, torch) are translated into these with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "AuthenticationError",
    "BackendError",
    "ClipBridgeError",
    "InvalidInputError",
    "ModelLoadError",
    "RateLimitError",
]


class ClipBridgeError(Exception):
    """Base class of all clipbridge errors."""

    def __init__(
        self,
        message: str,
        *,
        partial: Mapping[int, np.ndarray] | None = None,
        failed_indices: Iterable[int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.partial: dict[int, np.ndarray] = dict(partial or {})
        self.failed_indices: list[int] = sorted(failed_indices or [])


class InvalidInputError(ClipBridgeError, ValueError):
    """An input item cannot be embedded; ``index`` is its position in the call's input."""

    def __init__(
        self,
        index: int,
        reason: str,
        *,
        partial: Mapping[int, np.ndarray] | None = None,
    ) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"input {index}: {reason}", partial=partial, failed_indices=[index])

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (self.index, self.reason), {"partial": self.partial})


class ModelLoadError(ClipBridgeError):
    """A model could not be located, downloaded or loaded."""


class BackendError(ClipBridgeError):
    """A backend call failed. ``status_code`` is the HTTP status where there was one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        partial: Mapping[int, np.ndarray] | None = None,
        failed_indices: Iterable[int] | None = None,
    ) -> None:
        super().__init__(message, partial=partial, failed_indices=failed_indices)
        self.status_code = status_code


class AuthenticationError(BackendError):
    """The API key is missing or was rejected."""


class RateLimitError(BackendError):
    """The server kept answering 429 after every retry."""
