"""Compressed HTTP answers are bounded after decoding: decompression bombs cost no memory.

A server may answer with ``Content-Encoding`` whatever it likes. Each bomb here is a few
kilobytes on the wire that decode to 512 MiB; the image fetch and the API backend must stop at
their byte caps while decoding, so the process's peak memory (VmHWM, measured in a fresh
subprocess) grows by far less than the bomb.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from fault_server import FaultServer, bomb, send

from clipbridge import BackendError, Embedder, InvalidInputError
from clipbridge.content_encoding import PIECE_BYTES, BodyDecoder, ContentEncodingError
from clipbridge.fetch import fetch_image_bytes

BOMB_SIZE = 512 * 2**20
ENCODINGS = ["gzip", "deflate", "br", "zstd"]
EXTRA_MB_LIMIT = 100

# Run in a fresh interpreter: warm up with a normal answer, reset the peak (clear_refs 5), then
# fetch the bomb and report how far the peak rose and what was raised.
_MEASURE = textwrap.dedent(
    """
    import asyncio, json, sys

    def peak_kb():
        with open("/proc/self/status") as fh:
            return int(fh.read().split("VmHWM:")[1].split()[0])

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")

    what, base = sys.argv[1], sys.argv[2]
    if what == "fetch":
        from clipbridge.fetch import fetch_image_bytes

        def call(path):
            return fetch_image_bytes(
                base + path, timeout=20, max_bytes=2**20, allow_private=True
            )
    else:
        from clipbridge import Embedder

        emb = Embedder("tiny", backend="api", base_url=base, api_key="test-key-0123456789",
                       dimensions=2, max_retries=0)

        def call(path):
            emb.backend.url = base + path
            if what == "api-async":
                return asyncio.run(emb.aembed_texts(["a"]))
            return emb.embed_texts(["a"])

    call("/small")
    reset_peak()
    start = peak_kb()
    try:
        call("/bomb")
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"extra_mb": (peak_kb() - start) / 1024, "error": error}))
    """
)

SMALL_VECTORS = b'{"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": {"total_tokens": 1}}'


def send_chunked(body: bytes, headers: dict[str, str], chunk: int = 16384):
    """Answer 200 with ``body`` in chunked transfer encoding: no Content-Length to check."""

    def respond(handler, server):
        handler.send_response(200)
        for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
            handler.send_header(name, value)
        handler.end_headers()
        for start in range(0, len(body), chunk):
            part = body[start : start + chunk]
            handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return respond


@functools.cache
def _bomb(encoding: str) -> bytes:
    return bomb(encoding, BOMB_SIZE)


def _server(encoding: str, what: str, framing: str) -> FaultServer:
    payload = _bomb(encoding)
    ctype = "image/png" if what == "fetch" else "application/json"
    small = b"\x89PNG" + b"\0" * 100 if what == "fetch" else SMALL_VECTORS

    def respond(handler, server):
        if handler.path == "/small":
            return send(200, small, {"Content-Type": ctype})(handler, server)
        headers = {"Content-Type": ctype, "Content-Encoding": encoding}
        answer = send_chunked if framing == "chunked" else functools.partial(send, 200)
        return answer(payload, headers)(handler, server)

    return FaultServer(respond)


def _measure(what: str, encoding: str, framing: str) -> dict:
    with _server(encoding, what, framing) as server:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, what, server.url],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parent,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(180)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    ("what", "framing"),
    # chunked: no Content-Length, 16 KiB chunks; sized: Content-Length (httpx reads 64 KiB).
    # The API's own cap refuses a declared length above it before reading, so only chunked.
    [("fetch", "chunked"), ("fetch", "sized"), ("api-sync", "chunked"), ("api-async", "chunked")],
)
def test_a_decompression_bomb_costs_no_memory(what, framing, encoding):
    result = _measure(what, encoding, framing)
    print(what, framing, encoding, result)
    assert result["error"] is not None, "a 512 MiB answer must be refused"
    assert result["extra_mb"] < EXTRA_MB_LIMIT, result


# -- the decoder ------------------------------------------------------------------------------
DATA = bytes(range(256)) * 1000 + b" " * 500_000


def _pieces(encoding: str, body: bytes, step: int = 1000) -> list[bytes]:
    decoder = BodyDecoder(encoding)
    return [p for i in range(0, len(body), step) for p in decoder.feed(body[i : i + step])]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # the zlib format, as the RFC says
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda d: d),
        ("", lambda d: d),
        ("gzip, deflate", lambda d: zlib.compress(gzip.compress(d))),  # applied in order
        ("GZIP", gzip.compress),
    ],
)
@pytest.mark.parametrize("step", [1, 1000, 10**7])
def test_the_decoder_gives_the_body_back_in_bounded_pieces(encoding, encode, step):
    body = encode(DATA)
    if step == 1:
        body = body[:3000]  # byte by byte: a prefix is enough
    pieces = _pieces(encoding, body, step)
    assert b"".join(pieces) == DATA[: len(b"".join(pieces))]
    if step > 1:
        assert b"".join(pieces) == DATA
    if encoding not in ("", "identity"):  # an unencoded body passes through as it was read
        assert max(map(len, pieces)) <= PIECE_BYTES


def test_a_bomb_decodes_lazily_one_piece_at_a_time():
    pieces = BodyDecoder("gzip").feed(bomb("gzip", 64 * 2**20))
    first = next(pieces)
    assert len(first) <= PIECE_BYTES and set(first) == {ord(" ")}


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "snappy"])
def test_encodings_that_cannot_be_bounded_are_refused(encoding):
    with pytest.raises(ContentEncodingError, match=r"Content-Encoding '.+', which clipbridge"):
        BodyDecoder(encoding)


def test_corrupt_compressed_data_is_a_content_encoding_error():
    with pytest.raises(ContentEncodingError, match="corrupt gzip data"):
        _pieces("gzip", b"\x1f\x8b" + b"junk" * 100)


# -- the image fetch and the API backend, against real servers --------------------------------
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _fetch(url: str):
    return fetch_image_bytes(url, timeout=5, max_bytes=10_000, allow_private=True)


@pytest.mark.parametrize(
    ("encoding", "encode"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_a_compressed_image_answer_is_decoded(encoding, encode):
    with FaultServer(send(200, encode(PNG), {"Content-Encoding": encoding})) as server:
        assert _fetch(server.url + "/a.png") == PNG
    assert server.requests[0][2]["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["br", "zstd"])
def test_an_image_answer_in_another_encoding_is_refused(encoding):
    answer = send(200, bomb(encoding, 2**20), {"Content-Encoding": encoding})
    with (
        FaultServer(answer) as server,
        pytest.raises(InvalidInputError, match=rf"Content-Encoding '{encoding}'.*not decode"),
    ):
        _fetch(server.url + "/a.png")


def _api(server) -> Embedder:
    return Embedder(
        "tiny", backend="api", base_url=server.url, api_key="test-key-0123456789", max_retries=0
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_gzip_api_answer_is_decoded_and_others_refused(mode):
    def run(emb):
        if mode == "async":
            return asyncio.run(emb.aembed_texts(["a"]))
        return emb.embed_texts(["a"])

    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with FaultServer(send(200, gzip.compress(SMALL_VECTORS), headers)) as server:
        emb = _api(server)
        assert run(emb).tolist() == [[pytest.approx(0.6), pytest.approx(0.8)]]
        emb.close()
    assert server.requests[0][2]["Accept-Encoding"] == "gzip, deflate"
    headers["Content-Encoding"] = "zstd"
    with FaultServer(send(200, bomb("zstd", 2**20), headers)) as server:
        emb = _api(server)
        with pytest.raises(BackendError, match="Content-Encoding 'zstd', which clipbridge"):
            run(emb)
        emb.close()


def test_an_api_error_answer_in_another_encoding_keeps_its_status():
    # A 503 whose body cannot be decoded is still a 503: retried, and the retry's answer used.
    answers = [
        send(503, bomb("br", 2**20), {"Content-Encoding": "br"}),
        send(200, SMALL_VECTORS, {"Content-Type": "application/json"}),
    ]

    def respond(handler, server):
        return answers[min(len(server.requests), 2) - 1](handler, server)

    with FaultServer(respond) as server:
        emb = Embedder(
            "tiny", backend="api", base_url=server.url, api_key="test-key-0123456789", max_retries=1
        )
        assert emb.embed_texts(["a"]).shape == (1, 2)
        emb.close()
    assert len(server.requests) == 2
