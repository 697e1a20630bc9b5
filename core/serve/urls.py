"""Image URLs inside requests: refused unless allowed; then only http(s), only public hosts.

The one function the server calls is :func:`fetch_image_url`. Every hop (the first request and
each redirect) is checked after DNS resolution: a host with any address that is loopback, private,
link-local (cloud metadata at 169.254.169.254), multicast, reserved or unspecified is refused
unless ``allow_private``. The image limits apply: ``max_bytes`` while streaming, and
``fetch_timeout`` as a deadline for the whole fetch, redirects included.

Example::

    data = fetch_image_url("https://example.com/cat.jpg", 0, limits=ImageLimits(),
                           policy=UrlPolicy(allow_urls=True))
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.parse
from dataclasses import dataclass

import httpx

from ..errors import InvalidInputError
from ..images import ImageLimits

__all__ = ["MAX_REDIRECTS", "UrlPolicy", "check_host", "fetch_image_url", "resolve"]

MAX_REDIRECTS = 5


@dataclass(frozen=True, kw_only=True)
class UrlPolicy:
    """Whether image URLs are fetched at all, and whether private addresses are allowed."""

    allow_urls: bool = False
    allow_private: bool = False


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the guard refuses the host if any is private)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_host(url: str, index: int, *, allow_private: bool) -> None:
    """Refuse a non-http(s) URL, and (unless ``allow_private``) one whose host resolves to a
    non-public address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(index, f"only http(s) image URLs are fetched, not {url[:80]!r}")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = resolve(parts.hostname, port)
    except (OSError, UnicodeError) as exc:
        raise InvalidInputError(index, f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for address in addresses:
        if _blocked(address):
            raise InvalidInputError(
                index,
                f"image URL host {parts.hostname!r} resolves to {address}, a private, loopback, "
                "link-local, multicast or reserved address; refused (the server allows it only "
                "with --allow-private-urls)",
            )


def _get(client: httpx.Client, url: str, index: int, limits: ImageLimits, deadline: float):
    """One GET: ``(redirect target or None, body bytes)``."""
    with client.stream("GET", url) as response:
        if response.is_redirect:
            target = response.headers.get("location", "")
            return str(response.url.join(target)), b""
        if response.status_code >= 400:
            raise InvalidInputError(index, f"GET {url[:80]} answered HTTP {response.status_code}")
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype.startswith("text/"):
            raise InvalidInputError(index, f"GET {url[:80]} returned {ctype}, not an image")
        declared = int(response.headers.get("content-length") or 0)
        if declared > limits.max_bytes:
            raise InvalidInputError(index, f"image is above max_image_bytes={limits.max_bytes}")
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limits.max_bytes:
                raise InvalidInputError(index, f"image is above max_image_bytes={limits.max_bytes}")
            if time.monotonic() > deadline:
                raise InvalidInputError(index, f"fetching took over {limits.fetch_timeout} s")
            chunks.append(chunk)
        return None, b"".join(chunks)


def fetch_image_url(url: str, index: int, *, limits: ImageLimits, policy: UrlPolicy) -> bytes:
    """The bytes at ``url`` under the policy and the limits (blocking: call from a thread)."""
    if not policy.allow_urls:
        raise InvalidInputError(
            index,
            "image URLs are not fetched by this server (it was started without "
            "--allow-image-urls); send the image as base64 or a data: URI",
        )
    deadline = time.monotonic() + limits.fetch_timeout
    try:
        with httpx.Client(
            timeout=limits.fetch_timeout, follow_redirects=False, trust_env=False
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                check_host(url, index, allow_private=policy.allow_private)
                target, data = _get(client, url, index, limits, deadline)
                if target is None:
                    if not data:
                        raise InvalidInputError(index, f"GET {url[:80]} returned no bytes")
                    return data
                url = target
    except httpx.HTTPError as exc:
        raise InvalidInputError(
            index, f"could not fetch the image URL: {type(exc).__name__}: {exc}"
        ) from exc
    raise InvalidInputError(index, f"more than {MAX_REDIRECTS} redirects")
