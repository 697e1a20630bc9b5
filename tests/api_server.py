"""A local server that speaks the Jina Embeddings API wire format, for tests and benchmarks.

It computes real vectors with the local backend (the tiny fixture model by default), checks the
Bearer key, honours ``normalized``, ``embedding_type``, ``dimensions`` and ``task``, decodes
base64 images, fetches image URLs, and injects faults on demand.

Example::

    with JinaApiServer(model_path) as server:
        server.faults += [Fault(status=503), Fault(status=503)]   # the next two requests fail
        emb = Embedder(**server.embedder_kwargs())
        emb.embed_texts(["a bridge"])                              # succeeds on the third try
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.server
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEST_API_KEY = "test-secret-key-0123456789"


@dataclass
class Fault:
    """What to do instead of (or on top of) a normal answer, for one request.

    - ``status``: answer with this HTTP status and ``body`` (JSON-encoded unless bytes);
    - ``headers``: extra response headers (``{"Retry-After": "1"}``);
    - ``delay``: sleep this long first (longer than the client's timeout: a read timeout);
    - ``shuffle``: a normal answer with ``data`` in reverse order (indices stay right);
    - ``drop_last``: a normal answer missing its last entry;
    - ``raw``: answer 200 with these bytes as the body (malformed JSON).
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    shuffle: bool = False
    drop_last: bool = False
    raw: bytes | None = None


class JinaApiServer:
    """A threaded HTTP server on 127.0.0.1 (port 0) answering ``POST /v1/embeddings``.

    ``faults`` is consumed one entry per request (``None`` = answer normally); ``latency`` adds
    a delay to every request; ``hits`` counts every POST (faults included) and ``requests``
    records each request body that reached the model (after the key check and faults).
    ``vectors="hash"`` answers with fast deterministic pseudo-vectors instead of running the
    model (benchmarks).
    """

    def __init__(
        self,
        model_path: str,
        *,
        model_name: str = "tiny-jina-clip-v1",
        api_key: str = TEST_API_KEY,
        vectors: str = "model",
    ) -> None:
        self.model_path = model_path
        self.model_name = model_name
        self.api_key = api_key
        self.vectors = vectors
        self.latency = 0.0
        self.faults: list[Fault | None] = []
        self.requests: list[dict[str, Any]] = []
        self.hits = 0
        self._lock = threading.Lock()
        self._embedder: Any = None
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def embedder_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``Embedder(**...)`` that talk to this server."""
        return {
            "model": self.model_name,
            "backend": "api",
            "base_url": self.url,
            "api_key": self.api_key,
            **overrides,
        }

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.hits = 0
            self.latency = 0.0

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> JinaApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering ------------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from clipbridge import Embedder

                # It fetches image URLs the client passes through: test servers on 127.0.0.1.
                self._embedder = Embedder(self.model_path, normalize=False, allow_private_urls=True)
            return self._embedder

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def answer(self, headers: Any, raw_body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; faults are applied by the handler."""
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return _json(401, {"detail": "Invalid API key. Please get your key at jina.ai"})
        try:
            request = json.loads(raw_body)
        except ValueError:
            return _json(400, {"error": {"message": "request body is not JSON"}})
        with self._lock:
            self.requests.append(request)
        if request.get("model") != self.model_name:
            return _json(
                422,
                {
                    "detail": [
                        {"message": f"unknown model {request.get('model')!r}", "field": "model"}
                    ]
                },
            )
        inputs = request.get("input")
        if not isinstance(inputs, list) or not inputs:
            return _json(400, {"detail": "input must be a non-empty list"})
        try:
            vectors, tokens = self._embed(inputs, request.get("task"))
        except ValueError as exc:
            return _json(400, {"detail": str(exc)})
        dims = request.get("dimensions")
        if dims is not None:
            if not isinstance(dims, int) or not 0 < dims <= vectors.shape[1]:
                return _json(
                    422, {"detail": [{"message": "bad dimensions", "field": "dimensions"}]}
                )
            vectors = vectors[:, :dims]
        if request.get("normalized"):
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        vectors = vectors.astype("<f4")
        as_base64 = request.get("embedding_type", "float") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(v.tobytes()).decode() if as_base64 else v.tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        return _json(
            200,
            {
                "model": self.model_name,
                "object": "list",
                "usage": {"total_tokens": tokens, "prompt_tokens": tokens},
                "data": data,
            },
        )

    def _embed(self, inputs: list[Any], task: str | None = None) -> tuple[np.ndarray, int]:
        kinds = {next(iter(item)) for item in inputs if isinstance(item, dict) and len(item) == 1}
        if len(kinds) != 1 or kinds - {"text", "image"}:
            raise ValueError("each input must be {'text': ...} or {'image': ...}, not mixed")
        kind = kinds.pop()
        values = [item[kind] for item in inputs]
        if kind == "text":
            tokens = math.ceil(sum(len(v.split()) for v in values) * 1.1)
            return self._vectors("embed_texts", values, task=task), tokens
        images: list[Any] = []
        tokens = 0
        for value in values:
            if value.startswith(("http://", "https://")):
                images.append(value)
                continue
            try:
                images.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError("image is neither an http(s) URL nor valid base64") from exc
            tokens += _image_tokens(images[-1])
        return self._vectors("embed_images", images), tokens

    def _vectors(self, method: str, values: list[Any], **kwargs: Any) -> np.ndarray:
        if self.vectors == "hash":
            rows = [
                np.frombuffer(hashlib.shake_256(repr(v).encode()).digest(96), dtype=np.uint8)
                for v in values
            ]
            return np.stack(rows).astype(np.float32) / 255.0 - 0.5
        from clipbridge import InvalidInputError

        try:
            return getattr(self.embedder, method)(values, **kwargs)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from exc


def _image_tokens(data: bytes) -> int:
    """What Jina bills for one uploaded image (the tile rule); 0 for bytes that are no image."""
    import io

    from PIL import Image, UnidentifiedImageError

    from clipbridge.pricing import image_tokens

    try:
        with Image.open(io.BytesIO(data)) as img:
            return image_tokens(*img.size)
    except (UnidentifiedImageError, OSError):
        return 0  # the model call names the bad input


def image_sizes(request: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(width, height, format) of each base64 image in a recorded request."""
    import io

    from PIL import Image

    out = []
    for item in request["input"]:
        with Image.open(io.BytesIO(base64.b64decode(item["image"]))) as img:
            out.append((*img.size, img.format))
    return out


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops concurrent connects (a 1 s SYN retry)
    daemon_threads = True


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _make_handler(server: JinaApiServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/v1/embeddings":
                self._send(*_json(404, {"detail": "Not Found"}))
                return
            with server._lock:
                server.hits += 1
            fault = server.next_fault()
            delay = server.latency + (fault.delay if fault else 0.0)
            if delay:
                time.sleep(delay)
            if fault and fault.status is not None:
                body = fault.body if fault.body is not None else {"detail": f"fault {fault.status}"}
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self._send(
                    fault.status, {"Content-Type": "application/json", **fault.headers}, payload
                )
                return
            if fault and fault.raw is not None:
                self._send(200, {"Content-Type": "application/json"}, fault.raw)
                return
            status, headers, body = server.answer(self.headers, raw)
            if fault and status == 200 and (fault.shuffle or fault.drop_last):
                data = json.loads(body)
                if fault.shuffle:
                    data["data"].reverse()
                if fault.drop_last:
                    data["data"].pop()
                body = json.dumps(data).encode()
            self._send(status, {**headers, **fault.headers} if fault else headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (read-timeout faults)

    return Handler
