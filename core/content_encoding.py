"""HTTP ``Content-Encoding`` undone in bounded pieces, so byte caps hold after decompression.

httpx decodes a compressed body one network chunk at a time, each chunk in one call: 16 KB of
zstd or brotli can become 512 MiB in memory before a caller counting the decoded bytes sees any
of it. Every answer clipbridge reads from a network (image URLs, the embeddings API) is decoded
here instead, from the raw bytes: gzip and deflate through :mod:`zlib` with an output limit per
call, so no piece is larger than :data:`PIECE_BYTES` and a caller stops a bomb at its cap. Those
are the only encodings clipbridge asks for (:data:`ACCEPT_ENCODING`); an answer in any other
(``br``, ``zstd``, ...) is refused with :class:`ContentEncodingError`, whatever packages happen
to be installed.

Example::

    with client.stream("GET", url, headers={"Accept-Encoding": ACCEPT_ENCODING}) as response:
        total = 0
        for piece in iter_decoded(response):       # ContentEncodingError: refused or corrupt
            total += len(piece)
            if total > cap:
                raise ...                           # at most PIECE_BYTES past the cap
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "DECODED_ENCODINGS",
    "PIECE_BYTES",
    "BodyDecoder",
    "ContentEncodingError",
    "aiter_decoded",
    "iter_decoded",
]

ACCEPT_ENCODING = "gzip, deflate"
"""The ``Accept-Encoding`` clipbridge sends: only what it can decode with a bound."""
DECODED_ENCODINGS = ("gzip", "x-gzip", "deflate", "identity")
"""``Content-Encoding`` values an answer may carry (comma-separated, applied in order)."""
PIECE_BYTES = 64 * 1024
"""The most decoded bytes one step of decompression produces (an unencoded body passes through
in the pieces it was read in)."""


class ContentEncodingError(ValueError):
    """An answer's ``Content-Encoding`` is not one clipbridge decodes, or its data is corrupt."""


class _Inflater:
    """One gzip or deflate layer: at most ``PIECE_BYTES`` of output per step."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16) if name != "deflate" else None
        self._head = b""

    def _start_deflate(self, data: bytes) -> bytes:
        """deflate is the zlib format (RFC 1950), but some servers send raw deflate: the first
        two bytes tell which. Returns the input to decode (empty until two bytes are known)."""
        self._head += data
        if len(self._head) < 2:
            return b""
        cmf, flg = self._head[0], self._head[1]
        is_zlib = cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS)
        data, self._head = self._head, b""
        return data

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            data = self._start_deflate(data)
            if self._zlib is None:
                return
        decompressor = self._zlib
        while data or not decompressor.eof:
            if decompressor.eof:
                return  # anything after the end of the stream is ignored, as httpx does
            try:
                out = decompressor.decompress(data, PIECE_BYTES)
            except zlib.error as exc:
                raise ContentEncodingError(f"corrupt {self.name} data: {exc}") from exc
            if out:
                yield out
            data = decompressor.unconsumed_tail
            if not data and len(out) < PIECE_BYTES:
                return  # all input consumed and nothing more is pending


class BodyDecoder:
    """Undoes a ``Content-Encoding`` header's codings, last applied first, in bounded pieces.

    Example::

        decoder = BodyDecoder("gzip")
        pieces = list(decoder.feed(compressed))   # each at most PIECE_BYTES; nothing held back
    """

    def __init__(self, content_encoding: str) -> None:
        names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
        refused = [n for n in names if n not in DECODED_ENCODINGS]
        if refused:
            raise ContentEncodingError(
                f"the answer has Content-Encoding {', '.join(refused)!r}, which clipbridge does "
                f"not decode (it asks for {ACCEPT_ENCODING} or none)"
            )
        self._layers = [_Inflater(n) for n in reversed(names) if n != "identity"]

    def _through(self, data: bytes, layer: int) -> Iterator[bytes]:
        if layer == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[layer].feed(data):
            yield from self._through(piece, layer + 1)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw bytes."""
        if data:
            yield from self._through(data, 0)


def _decoder(response: httpx.Response) -> BodyDecoder:
    return BodyDecoder(response.headers.get("content-encoding", ""))


def iter_decoded(response: httpx.Response) -> Iterator[bytes]:
    """A streamed response's body, decoded in pieces of at most :data:`PIECE_BYTES`."""
    decoder = _decoder(response)
    for raw in response.iter_raw():
        yield from decoder.feed(raw)


async def aiter_decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """Async :func:`iter_decoded`."""
    decoder = _decoder(response)
    async for raw in response.aiter_raw():
        for piece in decoder.feed(raw):
            yield piece
