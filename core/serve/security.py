"""Bearer-key checks (constant-time) and the warning for a server reachable without a key.

Keys are compared with :func:`hmac.compare_digest` against every configured key (no early exit
that would tell which one nearly matched) and are never logged or shown in a ``repr``.

Example::

    keys = ApiKeys(("s3cret",))
    keys.accepts("Bearer s3cret")       # True
"""

from __future__ import annotations

import hashlib
import hmac

from .settings import is_loopback_host

__all__ = ["ApiKeys", "bind_warning"]


class ApiKeys:
    """The configured keys, held as SHA-256 digests so equal-length comparisons leak nothing."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(hashlib.sha256(key.encode()).digest() for key in keys)

    def __repr__(self) -> str:
        return f"ApiKeys(<{len(self._digests)} key(s)>)"

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def accepts(self, authorization: str | None) -> bool:
        """True when no key is configured, or the header is ``Bearer <a configured key>``."""
        if not self._digests:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def bind_warning(host: str, has_keys: bool) -> str | None:
    """The warning to print when the server is reachable from other machines without a key."""
    if has_keys or is_loopback_host(host):
        return None
    return (
        f"WARNING: clipbridge serve is binding {host} without an API key: anyone who can reach "
        "this port can use the model. Pass --api-key KEY (or set $CLIPBRIDGE_SERVE_API_KEYS)."
    )
