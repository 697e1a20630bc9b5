"""The endpoints, kept thin: parse, admit, prepare in threads, submit to the batcher, encode.

Nothing here touches a backend, a tensor or PIL: images are prepared by
:mod:`clipbridge.serve.inputs`, vectors come from the :class:`~clipbridge.serve.batcher.Batcher`.
Each item is made ready once, in the worker threads, while the model thread runs other batches:
a text is tokenized once (the ids bill the request and go to the model), an image decoded once
(its size bills it, its pixel array goes to the model).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ..api_wire import EMBEDDINGS_PATH
from ..config import TASKS
from ..embedder import Embedder, normalize_rows
from ..errors import InvalidInputError
from ..images import ImageLimits
from ..precision import quantize
from ..results import Kind
from .batcher import Batcher
from .errors import ServeError, field_error
from .inputs import ImageReady, InputItem, decode_image_item, parse_items, prepare_image
from .metrics import CONTENT_TYPE, ServeMetrics
from .schemas import (
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorResponse,
    ModelList,
    ValidationErrorResponse,
)
from .security import ApiKeys
from .settings import ServeSettings
from .urls import UrlPolicy, fetch_image_url

__all__ = ["ServerState", "router"]

OUTPUT_TYPES = ("float", "base64", "binary", "ubinary")
"""Jina's ``embedding_type`` values; binary/ubinary are sign bits as in ``clipbridge.precision``."""
RETRY_AFTER_SECONDS = 1
CLIENT_CLOSED = 499  # nginx's status for a request whose client left before the answer
# Below these sizes a step runs on the event loop: a thread hop costs more than the work (and on
# a fast device, where the model thread holds the GIL often, each hop waits for it).
INLINE_TEXT_CHARS = 2048  # a request's texts tokenized inline (a short text: tens of µs)
INLINE_OUTPUT_FLOATS = 8192  # a response encoded to JSON inline (8 rows of 1024, ~1 ms)
T = TypeVar("T")


@dataclass
class ServerState:
    """What the routes need, built by the app's lifespan (``app.state.serve``)."""

    settings: ServeSettings
    keys: ApiKeys
    metrics: ServeMetrics
    limits: ImageLimits
    urls: UrlPolicy
    embedder: Embedder | None = None
    batcher: Batcher | None = None
    pool: ThreadPoolExecutor | None = None  # decoding and token counts: CPU work
    fetch_pool: ThreadPoolExecutor | None = None  # image URL fetches: waiting on the network


def _state(request: Request) -> ServerState:
    return request.app.state.serve


async def require_key(request: Request) -> None:  # async: no thread hop per request
    if not _state(request).keys.accepts(request.headers.get("authorization")):
        raise ServeError(
            401,
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 429, 503)
}
_ERRORS[422] = {"model": ValidationErrorResponse}


def _task(task: str | None) -> str | None:
    """The request's ``task`` as the core knows it (``retrieval.query``); any other (Jina's
    ``retrieval.passage``, ``text-matching``, ...) embeds as documents, i.e. no instruction."""
    return task if task in TASKS else None


def _check_request(body: EmbeddingRequest, state: ServerState, embedder: Embedder) -> str:
    """The output type, after the model, dimensions, output type and size checks."""
    settings = state.settings
    if body.model is not None and body.model not in settings.accepted_model_names:
        names = " or ".join(repr(n) for n in settings.public_model_names)
        raise ServeError(
            400, f"model {body.model!r} is not served here; this server serves {names}"
        )
    if (
        body.dimensions is not None
        and body.dimensions != embedder.dimension
        and not embedder.matryoshka_dimensions
    ):
        raise field_error(
            "dimensions",
            f"{settings.model_name} returns {embedder.dimension}-d vectors and was not trained "
            f"for shorter ones; dimensions={body.dimensions} is not supported",
        )
    if body.dimensions is not None and not 1 <= body.dimensions <= embedder.dimension:
        raise field_error(
            "dimensions",
            f"{settings.model_name} returns {embedder.dimension}-d vectors; dimensions="
            f"{body.dimensions} is not supported (1 to {embedder.dimension}: the first k "
            "Matryoshka dimensions)",
        )
    output = body.output_type() or "float"
    if output not in OUTPUT_TYPES:
        hint = (
            " (the Jina API has no scalar types; int8 vectors: Embedder(precision=...) or "
            "clipbridge index --precision)"
            if output in ("int8", "uint8")
            else ""
        )
        raise field_error(
            "embedding_type",
            f"{output!r} is not supported; use one of {', '.join(OUTPUT_TYPES)}{hint}",
        )
    count = 1 if isinstance(body.input, str) else len(body.input)
    if count == 0:
        raise field_error("input", "input is empty; send at least one item")
    if count > settings.max_inputs:
        raise ServeError(
            413, f"{count} input items, above this server's max_inputs={settings.max_inputs}"
        )
    return output


async def _ready_image(item: InputItem, index: int, state: ServerState) -> ImageReady:
    """An image item fetched (URLs, on the fetch threads) and decoded (on the decode threads).

    Waiting on a slow host happens only on the fetch threads, so texts and local images of other
    requests never queue behind it.
    """
    loop = asyncio.get_running_loop()
    embedder = state.embedder
    assert embedder is not None
    if item.source != "url":
        return await loop.run_in_executor(
            state.pool, prepare_image, item, index, state.limits, state.urls, embedder
        )
    fetch = functools.partial(
        fetch_image_url, item.value, index, limits=state.limits, policy=state.urls
    )
    data = await loop.run_in_executor(state.fetch_pool, fetch)
    return await loop.run_in_executor(
        state.pool, decode_image_item, data, index, state.limits, embedder
    )


def _ready_texts(
    embedder: Embedder, texts: list[str], task: str | None
) -> tuple[list[list[int]] | None, list[int]]:
    """(token ids for the model or None, tokens billed per text), tokenizing once where the
    backend embeds prepared inputs (twice only for a task with an instruction, which is not
    billed)."""
    if not texts:
        return ([] if embedder.prepares_inputs else None), []
    if not embedder.prepares_inputs:
        return None, embedder.count_tokens(texts)
    ids = embedder.tokenize(texts, task=task)
    counts = [len(seq) for seq in ids] if task is None else embedder.count_tokens(texts)
    return ids, counts


async def _prepare(
    items: Sequence[InputItem], state: ServerState, embedder: Embedder, task: str | None
) -> tuple[list[tuple[Kind, Any]], int]:
    """Fetch, decode, tokenize and check every item in worker threads -> (batcher items,
    tokens billed)."""
    loop = asyncio.get_running_loop()
    texts = [i for i, item in enumerate(items) if item.kind == "text"]
    tasks: dict[int, asyncio.Future[Any]] = {
        i: asyncio.ensure_future(_ready_image(item, i, state))
        for i, item in enumerate(items)
        if item.kind == "image"
    }
    text_values = [items[i].value for i in texts]
    counting: asyncio.Future[tuple[list[list[int]] | None, list[int]]]
    if sum(len(text) for text in text_values) <= INLINE_TEXT_CHARS:
        counting = loop.create_future()
        try:
            counting.set_result(_ready_texts(embedder, text_values, task))
        except Exception as exc:
            counting.set_exception(exc)
    else:
        counting = loop.run_in_executor(state.pool, _ready_texts, embedder, text_values, task)
    try:
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        ids, counts = await counting
    except asyncio.CancelledError:  # the client left: stop fetches and decodes not yet begun
        for task in (*tasks.values(), counting):
            task.cancel()
        raise
    ready = dict(zip(tasks, results, strict=True))
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:  # the request fails whole, naming its first bad item
        bad = min(
            (e for e in errors if isinstance(e, InvalidInputError)),
            key=lambda e: e.index,
            default=None,
        )
        if bad is None:
            raise errors[0]
        raise bad
    text_payloads: dict[int, Any] = dict(zip(texts, ids, strict=True)) if ids is not None else {}
    out: list[tuple[Kind, Any]] = []
    for i, item in enumerate(items):
        if item.kind == "text":
            out.append(("text", text_payloads.get(i, item.value)))
        else:
            out.append(("image", ready[i].data))
    tokens = sum(counts) + sum(r.tokens for r in results)
    return out, tokens


def _parse_body(raw: bytes) -> EmbeddingRequest:
    """The request body -> :class:`EmbeddingRequest`; anything that is not valid JSON, or not
    the schema, is a 422 in Jina's field-error shape."""
    try:
        data = json.loads(raw)  # bytes: UTF-8 (or UTF-16/32 with their marks), as JSON allows
    except json.JSONDecodeError as exc:
        raise field_error("body", f"malformed JSON at character {exc.pos}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise field_error(
            "body", f"malformed JSON: the body is not UTF-8 text (byte {exc.start})"
        ) from None
    except RecursionError:
        raise field_error("body", "malformed JSON: arrays or objects nested too deeply") from None
    except ValueError as exc:  # Python's cap on the digits of an integer
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise field_error("body", f"malformed JSON: {reason}") from None
    try:
        return EmbeddingRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _client_gone(request: Request) -> None:
    """Returns once the client has disconnected (call after the body was read)."""
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # the server cannot tell: never report a disconnect
        await asyncio.Event().wait()


async def _unless_client_gone(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, or ``ServeError(499)`` with ``work`` cancelled if the client leaves
    first: its items are dropped before they reach the model and free their queue places."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise ServeError(CLIENT_CLOSED, "the client closed the connection")
    return task.result()


def _encode(
    vectors: np.ndarray,
    *,
    model: str,
    tokens: int,
    output: str,
    normalized: bool,
    dimensions: int | None,
) -> bytes:
    if dimensions is not None:  # Matryoshka: the first k raw dimensions, normalized after
        vectors = vectors[:, :dimensions]
    if normalized:
        vectors = normalize_rows(vectors)
    if output in ("binary", "ubinary"):  # Jina's shape: ceil(dim / 8) ints per vector
        rows: list[Any] = quantize(vectors, output).tolist()
    elif output == "base64":
        rows = [
            base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode()
            for v in vectors
        ]
    else:
        rows = vectors.tolist()
    body = {
        "model": model,
        "object": "list",
        "usage": {"total_tokens": tokens, "prompt_tokens": tokens},
        "data": [{"object": "embedding", "index": i, "embedding": r} for i, r in enumerate(rows)],
    }
    return orjson.dumps(body)  # ~10x json.dumps on 768 floats: it runs on the event loop


@router.post(
    EMBEDDINGS_PATH,
    dependencies=[Depends(require_key)],
    response_model=EmbeddingResponse,
    responses=_ERRORS,
    summary="Embed texts and images (Jina Embeddings API)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EmbeddingRequest.model_json_schema()}},
        }
    },
)
async def embeddings(request: Request) -> Response:
    state = _state(request)
    embedder, batcher = state.embedder, state.batcher
    if embedder is None or batcher is None:
        raise ServeError(503, "the model is not loaded yet", headers={"Retry-After": "1"})
    body = _parse_body(await request.body())
    output = _check_request(body, state, embedder)
    try:
        items = parse_items(body.input)
    except InvalidInputError as exc:
        raise ServeError(400, f"input[{exc.index}]: {exc.reason}") from exc
    if not batcher.reserve(len(items)):
        raise ServeError(
            429,
            f"the server's queue is full ({batcher.max_queue} items); retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    task = _task(body.task)
    n_images = sum(item.kind == "image" for item in items) if embedder.prepares_inputs else 0

    async def compute() -> tuple[np.ndarray, int]:
        # Decoded pixels wait for the model: take places for them before decoding.
        taken = await batcher.pixels.acquire(n_images) if n_images else 0
        try:
            ready, tokens = await _prepare(items, state, embedder, task)
            return await batcher.submit(ready, task=task), tokens
        finally:
            batcher.pixels.release(taken)

    try:
        vectors, tokens = await _unless_client_gone(request, compute())
    except InvalidInputError as exc:
        raise ServeError(400, f"input[{exc.index}]: {exc.reason}") from exc
    finally:
        batcher.release(len(items))
    encode = functools.partial(
        _encode,
        vectors,
        model=state.settings.model_name,
        tokens=tokens,
        output=output,
        normalized=body.normalized,
        dimensions=body.dimensions,
    )
    small = vectors.size <= INLINE_OUTPUT_FLOATS
    content = encode() if small else await asyncio.to_thread(encode)
    return Response(content, media_type="application/json")


@router.get("/v1/models", response_model=ModelList, dependencies=[Depends(require_key)])
async def models(request: Request) -> dict[str, Any]:
    state = _state(request)
    names = state.settings.public_model_names
    dimension = state.embedder.dimension if state.embedder is not None else 0
    card = {"id": names[0], "object": "model", "owned_by": "clipbridge"}
    card.update(dimension=dimension, aliases=list(names[1:]))
    return {"object": "list", "data": [card]}


@router.get("/health")
async def health(request: Request) -> Response:
    state = _state(request)
    ready = state.batcher is not None
    body = {"status": "ok" if ready else "loading", "model": state.settings.model_name}
    status = 200 if ready else 503
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
