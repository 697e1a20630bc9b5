"""Which strings are http(s) URLs: the one answer every module uses.

Example::

    is_http_url("HTTPS://example.org/cat.jpg")   # True
    is_http_url("ftp://example.org/cat.jpg")     # False: not fetched, not sent on
"""

from __future__ import annotations

__all__ = ["is_http_url"]

_PREFIXES = ("http://", "https://")


def is_http_url(value: object) -> bool:
    """True for a string starting ``http://`` or ``https://``, in any case."""
    return isinstance(value, str) and value[:8].lower().startswith(_PREFIXES)
