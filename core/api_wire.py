"""The Jina Embeddings API wire format as pure functions: no sockets, no clocks, no threads.

Everything the API backend decides without I/O lives here, once, for both its sync and async
clients: request items and bodies, response parsing and decoding, error-body parsing, retry
decisions and delays, and how inputs are cut into requests.

Example::

    items = [text_item("a bridge at dusk")]
    body = build_request_body("jina-clip-v1", items, embedding_type="base64", normalized=True)
    parsed = parse_embeddings(response_bytes, expected=1)    # vectors ordered by "index"
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import math
import random
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from .errors import AuthenticationError, BackendError, RateLimitError

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "EMBEDDINGS_PATH",
    "MAX_ERROR_BODY_BYTES",
    "MAX_RETRY_AFTER",
    "RETRYABLE_STATUS",
    "UNKNOWN_DIMENSION_BOUND",
    "ParsedEmbeddings",
    "backoff_delay",
    "build_request_body",
    "clean_api_key",
    "error_for_status",
    "error_message",
    "image_item",
    "parse_embeddings",
    "parse_retry_after",
    "plan_request_batches",
    "response_byte_cap",
    "retry_delay",
    "secret_forms",
    "text_item",
]

log = logging.getLogger("clipbridge")

EMBEDDINGS_PATH = "/v1/embeddings"
"""The one route: the API backend posts to it, ``clipbridge serve`` answers on it."""
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
"""Seconds: the first retry waits up to this long (full jitter), doubling per attempt."""
BACKOFF_MAX = 30.0
"""Seconds: the cap on one jittered backoff delay."""
MAX_RETRY_AFTER = 120.0
"""Seconds: a ``Retry-After`` longer than this is not waited for; the call fails instead."""
REQUEST_OVERHEAD_BYTES = 256
"""Room left in ``api_max_request_bytes`` for the JSON envelope around the inputs."""
UNKNOWN_DIMENSION_BOUND = 8192
"""Vector width assumed for the response size cap while the real one is not known yet."""
RESPONSE_OVERHEAD_BYTES = 64 * 1024
"""Room in the response size cap for the envelope (model, usage, whitespace)."""
RESPONSE_ENTRY_BYTES = 256
"""Room per returned vector for its ``{"object": "embedding", "index": i, ...}`` wrapper."""
RESPONSE_VALUE_BYTES = {"float": 48, "base64": 12}
"""Bytes allowed per vector value: about twice what each encoding needs (a float32 printed in
JSON takes up to ~26 characters with its separator; base64 takes 5.33 per 4-byte float)."""
MAX_ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response is read for its message; the rest is not read."""


# -- keys -------------------------------------------------------------------------------------
def clean_api_key(key: str) -> str:
    """The key without surrounding whitespace; :class:`AuthenticationError` if what is left has
    whitespace, control or non-ASCII characters (the message never shows the key).

    A key read from a file usually ends with a newline: that is stripped, not an error.

    >>> clean_api_key("  sk-abc123\\n")
    'sk-abc123'
    """
    key = key.strip()
    for position, char in enumerate(key):
        if not (char.isascii() and char.isprintable()) or char.isspace():
            kind = "whitespace" if char.isspace() else "a control or non-ASCII character"
            raise AuthenticationError(
                f"the API key contains {kind} ({char!r}, character {position + 1} of "
                f"{len(key)}) and cannot be sent in an HTTP header; check how it was read "
                "(api_key or $JINA_API_KEY): surrounding whitespace is stripped, inner whitespace "
                "and control characters are errors"
            )
    return key


def secret_forms(secret: str) -> list[str]:
    """Every way ``secret`` may show up in text: as is, ``repr``/JSON-escaped, URL-encoded,
    hex, and base64 (standard and URL-safe, at each of the three byte alignments it can have
    inside a longer base64 text). Longest first, for replacement.
    """
    raw = secret.encode()
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        raw.hex(),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            text = encode(b"\0" * shift + raw).decode()
            # Characters that depend on the secret's bytes only, whatever surrounds it.
            stable = text[4 if shift else 0 : ((shift + len(raw)) // 3) * 4]
            if len(stable) >= 8:
                forms.add(stable)
    return sorted((form for form in forms if form), key=len, reverse=True)


# -- requests ---------------------------------------------------------------------------------
def text_item(text: str) -> bytes:
    """One ``input`` entry for a text, JSON-encoded (its length counts against the byte budget)."""
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def image_item(value: str) -> bytes:
    """One ``input`` entry for an image: an http(s) URL or the base64 of the encoded image."""
    return json.dumps({"image": value}).encode()


def build_request_body(
    model: str,
    items: Sequence[bytes],
    *,
    embedding_type: str = "base64",
    normalized: bool = True,
    dimensions: int | None = None,
    task: str | None = None,
) -> bytes:
    """The JSON body of ``POST /v1/embeddings`` around already encoded input items.

    >>> body = build_request_body("jina-clip-v1", [text_item("hi")], normalized=False)
    >>> json.loads(body)["input"], json.loads(body)["normalized"]
    ([{'text': 'hi'}], False)
    """
    head: dict[str, object] = {
        "model": model,
        "embedding_type": embedding_type,
        "normalized": normalized,
    }
    if dimensions is not None:
        head["dimensions"] = dimensions
    if task is not None:
        head["task"] = task
    prefix = json.dumps(head)[:-1].encode()
    return prefix + b', "input": [' + b", ".join(items) + b"]}"


def plan_request_batches(sizes: Sequence[int], *, max_items: int, max_bytes: int) -> list[range]:
    """Cut inputs, in order, into requests of at most ``max_items`` items and ``max_bytes`` bytes.

    ``sizes`` are the encoded sizes of the items; the envelope's overhead is reserved. An item
    above the budget on its own gets a request of its own (the caller rejects those beforehand).

    >>> plan_request_batches([10, 10, 10, 10, 10], max_items=2, max_bytes=10_000)
    [range(0, 2), range(2, 4), range(4, 5)]
    """
    budget = max(1, max_bytes - REQUEST_OVERHEAD_BYTES)
    batches: list[range] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        cost = size + 2  # ", " between items
        if index > start and (index - start >= max_items or used + cost > budget):
            batches.append(range(start, index))
            start, used = index, 0
        used += cost
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


def item_budget(max_request_bytes: int) -> int:
    """The largest single encoded item that fits in one request."""
    return max(1, max_request_bytes - REQUEST_OVERHEAD_BYTES - 2)


# -- responses --------------------------------------------------------------------------------
def response_byte_cap(expected: int, dimension: int | None, embedding_type: str) -> int:
    """The most bytes a successful response for ``expected`` inputs may have.

    Derived from the answer it must hold: inputs x dimension x bytes per value in the chosen
    encoding, about twice over, plus the envelope. An unknown dimension counts as
    :data:`UNKNOWN_DIMENSION_BOUND`.

    >>> response_byte_cap(64, 768, "base64")
    671744
    """
    per_value = RESPONSE_VALUE_BYTES.get(embedding_type, max(RESPONSE_VALUE_BYTES.values()))
    width = dimension or UNKNOWN_DIMENSION_BOUND
    return RESPONSE_OVERHEAD_BYTES + expected * (RESPONSE_ENTRY_BYTES + width * per_value)


@dataclass(frozen=True)
class ParsedEmbeddings:
    """A successful response: vectors in input order, and the tokens the server billed."""

    vectors: np.ndarray
    total_tokens: int
    prompt_tokens: int


def _decode_vector(value: object, position: int) -> np.ndarray:
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BackendError(f"data[{position}].embedding is not valid base64") from exc
        if len(raw) % 4:
            raise BackendError(
                f"data[{position}].embedding has {len(raw)} bytes, not a float32 array"
            )
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if isinstance(value, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        return np.asarray(value, dtype=np.float32)
    raise BackendError(
        f"data[{position}].embedding is a {type(value).__name__}, expected a list of floats "
        "or a base64 string (binary embedding types are not supported)"
    )


def _token_count(usage: dict, name: str) -> int:
    """A usage counter, or 0 (with a log line) when the server sent something not a count."""
    value = usage.get(name)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    log.warning(
        "ignoring usage.%s=%.40r from the embeddings API: not a token count (usage unknown)",
        name,
        value,
    )
    return 0


def _same(text: str) -> str:
    return text


def parse_embeddings(
    body: bytes | str, expected: int, offset: int = 0, redact: Callable[[str], str] = _same
) -> ParsedEmbeddings:
    """Parse a 200 response: vectors placed by their ``index``, never by arrival order.

    Accepts both ``embedding_type`` encodings (a float list or little-endian float32 base64).
    A body that is not the expected JSON, a wrong count, a missing, duplicate or out-of-range
    index, or a vector with NaN or infinite values raises :class:`BackendError` (input indices
    in messages are counted from ``offset``, the request's first input). A usage counter that is
    not a number is ignored (logged), not an error. ``redact`` is applied to any server text
    quoted in a message before it is shortened (the API backend blanks its key out with it).
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body if isinstance(body, str) else body[:4096].decode("utf-8", "replace")
        snippet = redact(text[:4096])[:80]
        raise BackendError(f"the server's response is not JSON: {snippet!r}") from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise BackendError("the server's response has no 'data' list")
    if len(entries) != expected:
        raise BackendError(f"the server returned {len(entries)} embeddings for {expected} inputs")
    rows: list[np.ndarray | None] = [None] * expected
    for position, entry in enumerate(entries):
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < expected:
            raise BackendError(f"data[{position}] has a missing or out-of-range index: {index!r}")
        if rows[index] is not None:
            raise BackendError(f"the server returned index {index} twice")
        rows[index] = _decode_vector(entry.get("embedding"), position)
    widths = {len(row) for row in rows if row is not None}
    if len(widths) != 1 or 0 in widths:
        raise BackendError(f"the server returned vectors of differing lengths {sorted(widths)}")
    vectors = np.stack(rows)  # type: ignore[arg-type]
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        shown = ", ".join(str(offset + int(i)) for i in bad[:20])
        shown += ", ..." if bad.size > 20 else ""
        raise BackendError(
            f"the server returned vectors with NaN or infinite values for inputs {shown}",
            failed_indices=[offset + int(i) for i in bad],
        )
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return ParsedEmbeddings(
        vectors=vectors,
        total_tokens=_token_count(usage, "total_tokens"),
        prompt_tokens=_token_count(usage, "prompt_tokens"),
    )


# -- errors -----------------------------------------------------------------------------------
def error_message(body: bytes | str, redact: Callable[[str], str] = _same) -> str:
    """The server's message from any of its error-body shapes, or the raw text (shortened).

    >>> error_message(b'{"detail": [{"message": "bad model", "field": "model"}]}')
    'model: bad model'
    """
    text = redact(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            parts = []
            for entry in detail:
                if isinstance(entry, dict):
                    message = entry.get("message") or entry.get("msg") or json.dumps(entry)
                    field = entry.get("field") or ".".join(map(str, entry.get("loc", [])[1:]))
                    parts.append(f"{field}: {message}" if field else str(message))
                else:
                    parts.append(str(entry))
            if parts:
                return "; ".join(parts)
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return data["message"]
    text = " ".join(text.split())
    return (text[:300] + "...") if len(text) > 300 else (text or "(empty body)")


_HINTS = {
    401: "check the API key (api_key or $JINA_API_KEY)",
    402: "the account's token balance is exhausted; top it up or use another key",
    403: "the key is not allowed to do this (or its balance is exhausted)",
    429: "rate limited; lower max_concurrency or raise max_retries",
}


def error_for_status(status: int, message: str) -> BackendError:
    """Map a non-2xx status and the server's message to the error to raise."""
    hint = _HINTS.get(status)
    text = f"HTTP {status} from the embeddings API: {message}" + (f" ({hint})" if hint else "")
    if status in (401, 403):
        return AuthenticationError(text, status_code=status)
    if status == 429:
        return RateLimitError(text, status_code=status)
    return BackendError(text, status_code=status)


# -- retries ----------------------------------------------------------------------------------
def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    >>> parse_retry_after("3")
    3.0
    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now)
    5.0
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_MAX,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**attempt))``."""
    return rand() * min(cap, base * 2.0**attempt)


def retry_delay(
    attempt: int,
    retry_after: str | None = None,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_MAX,
    rand: Callable[[], float] = random.random,
    now: datetime | None = None,
) -> float | None:
    """How long to wait before retry number ``attempt + 1``, or None to give up now.

    The server's ``Retry-After`` wins when present (None if it asks for more than
    :data:`MAX_RETRY_AFTER`); otherwise :func:`backoff_delay`.
    """
    asked = parse_retry_after(retry_after, now)
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    return backoff_delay(attempt, base=base, cap=cap, rand=rand)
