"""Fetching untrusted http(s) URLs: bounded in time and bytes, private addresses refused.

Everything clipbridge downloads on a user's behalf (image URLs inside inputs, in the library
and in ``clipbridge serve``) goes through :func:`fetch_image_bytes`, called by
:func:`clipbridge.images.read_url` with the config's limits. :func:`check_url` runs the same
checks without fetching, for code of your own. :func:`deadline` and :func:`deadline_transport`
also bound each request of the API backend to one total deadline.

- Only ``http`` and ``https``.
- One deadline for the whole request: DNS, connect, TLS, headers and body, every redirect
  included. A server that drips one byte a second is cut off at the deadline, not kept alive.
- A byte cap, counted while streaming (``Content-Length`` is checked first when present).
- The address guard: the host is resolved here, every address it resolves to is checked
  (loopback, private, link-local such as 169.254.169.254, multicast, reserved, unspecified,
  shared/CGNAT: anything not globally routable, IPv4 and IPv6, IPv4-mapped IPv6 included), and
  the connection is then made to exactly that checked address (the httpx transport's network
  backend is pinned to it), so a second DNS answer cannot swap in a private address between the
  check and the connect (DNS rebinding). The URL, the ``Host`` header, TLS SNI and certificate
  verification all keep the original host name. Redirects are followed by hand, at most
  ``max_redirects``, each target checked the same way. Environment proxies are not used (a
  proxy would connect on our behalf to whatever it resolves).

Example::

    data = fetch_image_bytes("https://example.org/cat.jpg", timeout=10, max_bytes=20_000_000)
    check_url("http://169.254.169.254/latest/meta-data")   # InvalidInputError: private address
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpcore
import httpx

from .content_encoding import ACCEPT_ENCODING, ContentEncodingError, iter_decoded
from .errors import InvalidInputError
from .urls import is_http_url

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "address_block_reason",
    "check_url",
    "deadline",
    "deadline_transport",
    "fetch_image_bytes",
]

DEFAULT_MAX_REDIRECTS = 5
"""Redirects :func:`fetch_image_bytes` follows before giving up."""
_REDIRECTS = (301, 302, 303, 307, 308)

# The deadline (time.monotonic()) of the request running in this thread / task, if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "clipbridge_deadline", default=None
)
_resolver: ThreadPoolExecutor | None = None


# -- the deadline -----------------------------------------------------------------------------
@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Bound every socket operation of sync httpx requests made inside by one total deadline.

    Works with clients built on :func:`deadline_transport`: each read, write and connect gets
    at most the time left, so connect + headers + body together never exceed ``seconds``
    (the remaining time is what :class:`httpx.Timeout` would give one operation). Nested
    deadlines keep the earlier one. Yields the deadline as a ``time.monotonic()`` value.
    """
    at = time.monotonic() + seconds
    outer = _DEADLINE.get()
    if outer is not None:
        at = min(at, outer)
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation is clamped to the time the deadline leaves."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout=None):
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with deadline-clamped streams and, optionally, pinned addresses.

    With ``pins`` (host name -> IP address), a connection goes to the pinned address and any
    other host is refused: the address checked is the address connected to.
    """

    def __init__(self, pins: Mapping[str, str] | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._pins = {host.lower(): ip for host, ip in pins.items()} if pins is not None else None

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        if self._pins is not None:
            pinned = self._pins.get(host.lower())
            if pinned is None:
                raise httpcore.ConnectError(f"host {host!r} was not checked; refusing to connect")
            host = pinned
        stream = self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used by clipbridge")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's transport over an httpcore pool that uses our network backend.

    httpx offers no way to pass a network backend, so the pool is built here with the arguments
    httpx would pass (no proxies); everything else (request/response mapping, error mapping,
    closing) is httpx's own and goes through ``self._pool``.
    """

    def __init__(self, backend: httpcore.NetworkBackend, limits: httpx.Limits, verify: Any) -> None:
        # Not calling super().__init__: it would build (and load certificates for) a pool and
        # an SSL context only to throw them away.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s: once per process, shared (SSLContext is thread-safe).
    # SSL_CERT_FILE / SSL_CERT_DIR are honoured, as httpx does by default.
    return httpx.create_ssl_context(trust_env=True)


def _ssl_context(verify: Any) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return _default_ssl_context()
    return httpx.create_ssl_context(verify=verify, trust_env=True)


def deadline_transport(
    *,
    limits: httpx.Limits | None = None,
    pins: Mapping[str, str] | None = None,
    verify: Any = True,
) -> httpx.HTTPTransport:
    """A sync httpx transport that honours :func:`deadline` (and optional pinned addresses).

    ``verify`` is httpx's TLS setting (True, False, a CA bundle path or an ``ssl.SSLContext``).
    """
    return _Transport(_GuardedBackend(pins), limits or httpx.Limits(), verify)


# -- the address guard ------------------------------------------------------------------------
def address_block_reason(address: str) -> str | None:
    """Why an IP address must not be fetched from by default (None: globally routable).

    >>> address_block_reason("169.254.169.254"), address_block_reason("::ffff:10.0.0.1")
    ('link-local', 'private')
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d connects to a.b.c.d
            return address_block_reason(str(ip.ipv4_mapped))
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = address_block_reason(str(embedded))
            if inner is not None:
                return inner
    for name, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return name
    return None


def _shown_ip(address: str) -> str:
    """An address in its usual spelling (``::ffff:127.0.0.1``, not ``::ffff:7f00:1``)."""
    address, _, zone = address.partition("%")
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip) + (f"%{zone}" if zone else "")


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """Every address ``host`` resolves to, within ``timeout`` seconds."""
    try:
        return [_shown_ip(host)]  # a literal address
    except ValueError:
        pass
    global _resolver
    if _resolver is None:
        _resolver = ThreadPoolExecutor(4, "clipbridge-dns")
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.0))
    except FutureTimeout:
        raise TimeoutError(f"resolving {host!r} took longer than the deadline") from None
    addresses = list(dict.fromkeys(_shown_ip(str(info[4][0])) for info in infos))
    if not addresses:
        raise OSError(f"{host!r} resolves to no address")
    return addresses


def _shown(url: str) -> str:
    """A URL for messages: without user info, shortened."""
    try:
        parsed = httpx.URL(url)
        if parsed.userinfo:
            url = str(parsed.copy_with(username=None, password=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        pass
    return url if len(url) <= 200 else url[:200] + "..."


def _checked(url: str, allow_private: bool, left: float, index: int) -> tuple[httpx.URL, str]:
    """(parsed URL, the address to connect to) or :class:`InvalidInputError`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidInputError(index, f"invalid URL {_shown(url)!r}: {exc}") from exc
    if not is_http_url(url):
        raise InvalidInputError(
            index, f"unsupported URL scheme {parsed.scheme!r} in {_shown(url)!r} (http, https)"
        )
    if not parsed.raw_host:
        raise InvalidInputError(index, f"URL {_shown(url)!r} has no host")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = _resolve(host, port, left)
    except (OSError, UnicodeError) as exc:
        raise InvalidInputError(index, f"cannot resolve the host of {_shown(url)}: {exc}") from exc
    if not allow_private:
        for address in addresses:
            reason = address_block_reason(address)
            if reason is not None:
                raise InvalidInputError(
                    index,
                    f"{_shown(url)} resolves to private address {address} ({reason}); "
                    "set allow_private_urls=True to allow",
                )
    return parsed, addresses[0]


def check_url(url: str, *, allow_private: bool = False, timeout: float = 10.0) -> str:
    """Check a URL as :func:`fetch_image_bytes` would before connecting; return the address.

    Raises :class:`~clipbridge.errors.InvalidInputError` (index 0) for a scheme other than
    http(s), a host that does not resolve within ``timeout`` seconds, or (unless
    ``allow_private``) a host that resolves to a non-public address. Redirect targets are only
    known while fetching: :func:`fetch_image_bytes` checks each of them too.
    """
    return _checked(url, allow_private, timeout, 0)[1]


# -- fetching ---------------------------------------------------------------------------------
def fetch_image_bytes(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool = False,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    index: int = 0,
    verify: Any = True,
) -> bytes:
    """GET an image URL within ``timeout`` seconds in all and ``max_bytes`` bytes.

    Every failure is :class:`~clipbridge.errors.InvalidInputError` with ``index`` (the input's
    position, for messages): a blocked scheme or address (also after a redirect), too many
    redirects, an HTTP error status, a ``text/*`` answer (a web page), a body above
    ``max_bytes`` after decoding (stopped while decoding, as soon as it is exceeded; see
    :mod:`clipbridge.content_encoding`), a connection error, or the whole request
    taking longer than ``timeout``. ``verify`` is httpx's TLS setting (an ``ssl.SSLContext``
    to trust a private CA).

    Example::

        data = fetch_image_bytes(url, timeout=10, max_bytes=20 * 2**20, allow_private=False)
    """
    start = time.monotonic()
    at = start + timeout
    current = url
    for _hop in range(max_redirects + 1):
        left = at - time.monotonic()
        if left <= 0:
            break
        parsed, address = _checked(current, allow_private, left, index)
        pins = {parsed.raw_host.decode("ascii"): address}
        try:
            with (
                deadline(at - time.monotonic()),
                httpx.Client(
                    transport=deadline_transport(pins=pins, verify=verify),
                    timeout=max(at - time.monotonic(), 1e-3),
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    "GET", parsed, headers={"Accept-Encoding": ACCEPT_ENCODING}
                ) as response,
            ):
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = str(parsed.join(response.headers["location"]))
                    continue
                return _read_body(response, current, max_bytes, index)
        except httpx.TimeoutException as exc:
            if time.monotonic() >= at - 1e-3:
                break
            raise InvalidInputError(
                index, f"could not fetch {_shown(current)}: {type(exc).__name__}: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise InvalidInputError(
                index, f"could not fetch {_shown(current)}: {type(exc).__name__}: {exc}"
            ) from exc
    else:
        raise InvalidInputError(index, f"{_shown(url)} redirected more than {max_redirects} times")
    raise InvalidInputError(
        index,
        f"fetching {_shown(url)} took longer than {timeout:g}s in all "
        "(connect, headers and body; image_fetch_timeout)",
    )


def _read_body(response: httpx.Response, url: str, max_bytes: int, index: int) -> bytes:
    if response.status_code >= 400:
        raise InvalidInputError(
            index, f"GET {_shown(url)} answered HTTP {response.status_code}, not an image"
        )
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("text/"):
        raise InvalidInputError(
            index, f"GET {_shown(url)} returned {ctype}, not an image (is the URL a web page?)"
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InvalidInputError(
            index, f"{_shown(url)} is {declared} bytes, above max_image_bytes={max_bytes}"
        )
    chunks: list[bytes] = []
    total = 0
    try:
        # Decoded here in bounded pieces (gzip, deflate): a compressed bomb stops at the cap.
        for chunk in iter_decoded(response):
            total += len(chunk)
            if total > max_bytes:
                raise InvalidInputError(
                    index, f"{_shown(url)} is above max_image_bytes={max_bytes}"
                )
            chunks.append(chunk)
    except ContentEncodingError as exc:
        raise InvalidInputError(index, f"GET {_shown(url)}: {exc}") from exc
    return b"".join(chunks)
