"""Keywords that were renamed: the old name still works for a while, with a warning.

Example::

    def run(*, show_progress: bool = True, progress: bool | None = None) -> None:
        show_progress = renamed_keyword("run", "progress", progress, "show_progress", show_progress)
"""

from __future__ import annotations

import warnings
from typing import TypeVar

__all__ = ["renamed_keyword"]

T = TypeVar("T")


def renamed_keyword(function: str, old: str, old_value: T | None, new: str, new_value: T) -> T:
    """The value to use: ``old_value`` when the caller still passed the old keyword (with a
    ``DeprecationWarning`` naming both spellings), else ``new_value``."""
    if old_value is None:
        return new_value
    warnings.warn(f"{function}({old}=...) is now {function}({new}=...)", DeprecationWarning, 3)
    return old_value
