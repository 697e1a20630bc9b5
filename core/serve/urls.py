"""Image URLs inside requests: refused unless the server allows them, then fetched by the core's
guarded fetch (:func:`clipbridge.fetch.fetch_image_bytes`).

That fetch takes only http(s); resolves the host and refuses it (unless ``allow_private``) when
any of its addresses is loopback, private, link-local (cloud metadata at 169.254.169.254),
multicast, reserved or otherwise not public, then connects to exactly the checked address;
checks every redirect the same way; and stops at ``max_image_bytes`` and at one deadline
(``image_fetch_timeout``) for the whole fetch, redirects included.

Example::

    data = fetch_image_url("https://example.com/cat.jpg", 0, limits=ImageLimits(),
                           policy=UrlPolicy(allow_urls=True))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InvalidInputError
from ..images import ImageLimits, read_url

__all__ = ["UrlPolicy", "fetch_image_url"]


@dataclass(frozen=True, kw_only=True)
class UrlPolicy:
    """Whether image URLs are fetched at all, and whether private addresses are allowed."""

    allow_urls: bool = False
    allow_private: bool = False


def fetch_image_url(url: str, index: int, *, limits: ImageLimits, policy: UrlPolicy) -> bytes:
    """The bytes at ``url`` under the policy and the limits (blocking: call from a thread)."""
    if not policy.allow_urls:
        raise InvalidInputError(
            index,
            "image URLs are not fetched by this server (it was started without "
            "--allow-image-urls); send the image as base64 or a data: URI",
        )
    try:
        return read_url(url, index, replace(limits, allow_private_urls=policy.allow_private))
    except InvalidInputError as exc:
        if "private address" not in exc.reason:
            raise
        reason = exc.reason.split("; set allow_private_urls")[0]
        raise InvalidInputError(
            index, f"{reason}; refused (the server fetches these only with --allow-private-urls)"
        ) from exc
