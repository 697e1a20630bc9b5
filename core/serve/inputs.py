"""A request's ``input`` items: parsed without I/O, then made ready in worker threads.

A string is never read as a local path: an image arrives as an http(s) URL (fetched only when
the server allows URLs, through :mod:`clipbridge.serve.urls`), a ``data:`` URI or plain base64,
and is decoded here, once: into the model's pixel array (:meth:`Embedder.image_pixels
<clipbridge.Embedder.image_pixels>`) when the backend embeds prepared inputs, else checked by a
full guarded decode and carried as bytes.

Example::

    items = parse_items(["a cat", {"image": "data:image/png;base64,iVBOR..."}])
    items[1].kind        # "image"
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..embedder import Embedder
from ..errors import InvalidInputError
from ..images import ImageLimits, decode_image
from ..pricing import image_tokens
from ..results import Kind
from ..urls import is_http_url
from .urls import UrlPolicy, fetch_image_url

__all__ = [
    "ImageReady",
    "InputItem",
    "check_image",
    "decode_image_item",
    "image_bytes",
    "parse_items",
    "prepare_image",
]

_IMAGE_KEYS = ("image", "url", "bytes")
_KEYS = ("text", *_IMAGE_KEYS)


@dataclass(frozen=True)
class InputItem:
    """One parsed item: a text, or an image source (``url``, ``data`` URI or ``base64``)."""

    kind: Kind
    value: str
    source: Literal["text", "url", "data", "base64"]


@dataclass(frozen=True)
class ImageReady:
    """An image checked by a full guarded decode and its billed tokens; ``data`` is what the
    batcher embeds: the model's pixel array (prepared inputs) or the encoded bytes."""

    data: np.ndarray | bytes
    tokens: int


def _check_unicode(value: str, index: int, what: str) -> None:
    """A JSON string may hold a lone surrogate (``"\\ud800"``), which no tokenizer or URL
    parser takes: refuse it here, naming the item."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            index,
            f"{what} holds a lone surrogate (\\u{ord(value[exc.start]):04x} at character "
            f"{exc.start}), which is not valid Unicode text",
        ) from None


def _image_item(value: str, index: int, key: str) -> InputItem:
    head = value[:16].lower()
    if is_http_url(value):
        return InputItem("image", value, "url")
    if head.startswith("data:"):
        return InputItem("image", value, "data")
    if key == "url" or "://" in value[:16]:
        raise InvalidInputError(index, f'"{key}" must be an http(s) URL or a data: URI')
    return InputItem("image", value, "base64")


def _parse_one(item: Any, index: int) -> InputItem:
    if isinstance(item, str):
        # A data:image URI is an image whichever way it comes (Haystack's Jina image embedder
        # sends them as plain strings); any other string is text, never a path.
        if item[:11].lower() == "data:image/":
            _check_unicode(item, index, "the image")
            return InputItem("image", item, "data")
        _check_unicode(item, index, "the text")
        return InputItem("text", item, "text")
    if not isinstance(item, dict):
        raise InvalidInputError(
            index,
            f"an item is a string or an object with one of {', '.join(_KEYS)}, "
            f"not {type(item).__name__}",
        )
    keys = [key for key in _KEYS if key in item]
    if len(keys) != 1:
        raise InvalidInputError(
            index, f"an object item needs exactly one of {', '.join(_KEYS)}, got {sorted(item)}"
        )
    key = keys[0]
    value = item[key]
    if not isinstance(value, str):
        raise InvalidInputError(index, f'"{key}" must be a string, not {type(value).__name__}')
    _check_unicode(value, index, f'"{key}"')
    if key == "text":
        return InputItem("text", value, "text")
    if not value.strip():
        raise InvalidInputError(index, f'"{key}" is empty')
    return _image_item(value.strip(), index, key)


def parse_items(raw: str | list[Any]) -> list[InputItem]:
    """The request's ``input`` as typed items; a bad one raises ``InvalidInputError(index)``."""
    items = [raw] if isinstance(raw, str) else raw
    return [_parse_one(item, index) for index, item in enumerate(items)]


def _b64decode(payload: str, index: int, what: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(
            index,
            f"{what} is not valid base64 (an image is an http(s) URL, a data: URI or "
            "base64; strings are never read as file paths)",
        ) from exc


def _data_uri_bytes(uri: str, index: int) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep or not header.lower().endswith(";base64"):
        raise InvalidInputError(index, "a data: URI image must be base64 (data:<type>;base64,...)")
    return _b64decode(payload.strip(), index, "the data: URI payload")


def image_bytes(item: InputItem, index: int, limits: ImageLimits, urls: UrlPolicy) -> bytes:
    """The encoded bytes of an image item (I/O for URLs: call from a worker thread)."""
    if item.source == "url":
        return fetch_image_url(item.value, index, limits=limits, policy=urls)
    if len(item.value) * 3 // 4 > limits.max_bytes + 3:
        raise InvalidInputError(index, f"image is above max_image_bytes={limits.max_bytes}")
    if item.source == "data":
        data = _data_uri_bytes(item.value, index)
    else:
        data = _b64decode(item.value, index, "the image")
    if not data:
        raise InvalidInputError(index, "the image is empty (0 bytes)")
    return data


def check_image(data: bytes, index: int, limits: ImageLimits) -> ImageReady:
    """A full guarded decode (bytes, pixels, format) + tokens billed by the tile rule."""
    image = decode_image(data, index, limits)
    width, height = image.size
    image.close()
    return ImageReady(data, image_tokens(width, height))


def decode_image_item(
    data: bytes, index: int, limits: ImageLimits, embedder: Embedder
) -> ImageReady:
    """The one decode of an image: to pixels when ``embedder.prepares_inputs``, else
    :func:`check_image` (blocking: call from a worker thread)."""
    if not embedder.prepares_inputs:
        return check_image(data, index, limits)
    pixels, (width, height) = embedder.image_pixels(data, index, limits)
    return ImageReady(pixels, image_tokens(width, height))


def prepare_image(
    item: InputItem, index: int, limits: ImageLimits, urls: UrlPolicy, embedder: Embedder
) -> ImageReady:
    """:func:`image_bytes` then :func:`decode_image_item` (blocking: call from a worker
    thread)."""
    return decode_image_item(image_bytes(item, index, limits, urls), index, limits, embedder)
