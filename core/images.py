"""Image loading and preprocessing: one place, one policy, used by every backend.

The chain for every input is: read bytes (path, URL, data URI, bytes, file object) -> decode with
guards (bytes, pixels) -> EXIF orientation -> RGB -> shortest-side bicubic resize -> centre crop ->
CLIP mean/std. Every failure becomes :class:`~clipbridge.errors.InvalidInputError` naming the
item's index and what was wrong.

Example::

    spec = PreprocessSpec(size=224)
    pixels = load_pixels("photo.jpg", 0, spec, ImageLimits())   # float32 (3, 224, 224)
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidInputError

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "ImageInput",
    "ImageLimits",
    "PreprocessSpec",
    "center_crop",
    "check_image_input",
    "decode_image",
    "describe_input",
    "draft_size",
    "encode_for_upload",
    "load_image",
    "load_pixels",
    "preprocess",
    "read_image_bytes",
    "resize_shortest",
    "to_pixel_array",
]

ImageInput: TypeAlias = str | os.PathLike | bytes | bytearray | IO[bytes] | Image.Image
"""Anything clipbridge accepts as an image: a path, an http(s) URL, a ``data:`` URI, raw bytes,
a binary file object (``BytesIO``), or a ``PIL.Image``."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_URL_SCHEMES = ("http://", "https://")


@dataclass(frozen=True, kw_only=True)
class ImageLimits:
    """Guards applied to every image: bytes read, decoded pixels, URL fetch timeout."""

    max_pixels: int = 89_478_485
    max_bytes: int = 50 * 1024 * 1024
    fetch_timeout: float = 30.0

    @classmethod
    def from_config(cls, config: Any) -> ImageLimits:
        return cls(
            max_pixels=config.max_image_pixels,
            max_bytes=config.max_image_bytes,
            fetch_timeout=config.image_fetch_timeout,
        )


@dataclass(frozen=True, kw_only=True)
class PreprocessSpec:
    """The model's image preprocessing (``preprocessor_config.json``)."""

    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    fast_decode: bool = False
    crop_rounding: str = "half_even"  # centre-crop offsets: "half_even" (jina) or "floor" (HF)

    @classmethod
    def from_preprocessor_config(cls, data: dict[str, Any], **overrides: Any) -> PreprocessSpec:
        mode = data.get("resize_mode", "shortest")
        if mode != "shortest":
            raise ValueError(f"unsupported resize_mode {mode!r} (jina-clip-v1 uses 'shortest')")
        size = data.get("size", 224)
        if isinstance(size, dict):  # {"shortest_edge": n} or {"height": n, "width": n}
            size = size.get("shortest_edge") or size.get("height")
        return cls(
            size=int(size),
            mean=tuple(data.get("mean", CLIP_MEAN)),
            std=tuple(data.get("std", CLIP_STD)),
            crop_rounding=data.get("crop_rounding", "half_even"),
            **overrides,
        )


def describe_input(item: object) -> str:
    """A short, safe description of an input for error messages."""
    if isinstance(item, str):
        return repr(item[:80] + ("..." if len(item) > 80 else ""))
    if isinstance(item, (bytes, bytearray)):
        return f"{len(item)} bytes"
    return type(item).__name__


def check_image_input(item: object, index: int) -> None:
    """Reject values that can never be an image, before any work is done."""
    if isinstance(item, (str, os.PathLike, bytes, bytearray, Image.Image)):
        if isinstance(item, str) and not item.strip():
            raise InvalidInputError(index, "empty string is not an image path, URL or data URI")
        return
    if hasattr(item, "read"):
        return
    raise InvalidInputError(
        index,
        f"unsupported image type {type(item).__name__}; pass a path, URL, data URI, bytes, "
        "a binary file object or a PIL.Image",
    )


def _read_file(path: Path, index: int, limits: ImageLimits) -> bytes:
    if not path.exists():
        raise InvalidInputError(index, f"file not found: {str(path)!r}")
    if path.is_dir():
        raise InvalidInputError(index, f"{str(path)!r} is a directory, not an image file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(index, f"file {str(path)!r} is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InvalidInputError(
            index, f"file {str(path)!r} is {size} bytes, above max_image_bytes={limits.max_bytes}"
        )
    try:
        with path.open("rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InvalidInputError(index, f"cannot read {str(path)!r}: {exc}") from exc


def _read_data_uri(uri: str, index: int, limits: ImageLimits) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise InvalidInputError(index, "malformed data URI: no ',' before the payload")
    if len(payload) * 3 // 4 > limits.max_bytes:
        raise InvalidInputError(index, f"data URI is above max_image_bytes={limits.max_bytes}")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(index, f"data URI payload is not valid base64: {exc}") from exc


def _fetch_url(url: str, index: int, limits: ImageLimits) -> bytes:
    import httpx

    try:
        with (
            httpx.Client(timeout=limits.fetch_timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise InvalidInputError(
                    index, f"GET {url} answered HTTP {response.status_code}, not an image"
                )
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype.startswith("text/"):
                raise InvalidInputError(
                    index, f"GET {url} returned {ctype}, not an image (is the URL a web page?)"
                )
            declared = int(response.headers.get("content-length") or 0)
            if declared > limits.max_bytes:
                raise InvalidInputError(
                    index, f"{url} is {declared} bytes, above max_image_bytes={limits.max_bytes}"
                )
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limits.max_bytes:
                    raise InvalidInputError(
                        index, f"{url} is above max_image_bytes={limits.max_bytes}"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise InvalidInputError(
            index, f"could not fetch {url}: {type(exc).__name__}: {exc}"
        ) from exc


def read_image_bytes(item: ImageInput, index: int, limits: ImageLimits) -> bytes:
    """The encoded bytes behind any non-PIL input (path, URL, data URI, bytes, file object)."""
    if isinstance(item, (bytes, bytearray)):
        if not item:
            raise InvalidInputError(index, "image bytes are empty")
        if len(item) > limits.max_bytes:
            raise InvalidInputError(
                index, f"{len(item)} bytes, above max_image_bytes={limits.max_bytes}"
            )
        return bytes(item)
    if isinstance(item, str):
        lowered = item[:16].lower()
        if lowered.startswith(_URL_SCHEMES):
            return _fetch_url(item, index, limits)
        if lowered.startswith("data:"):
            return _read_data_uri(item, index, limits)
        if lowered.startswith("file://"):
            return _read_file(Path(urllib.parse.unquote(item[7:])), index, limits)
        if "://" in item[:12]:
            raise InvalidInputError(index, f"unsupported URL scheme in {describe_input(item)}")
        return _read_file(Path(item), index, limits)
    if isinstance(item, os.PathLike):
        return _read_file(Path(item), index, limits)
    if hasattr(item, "read"):
        try:
            if hasattr(item, "seek"):
                item.seek(0)
            data = item.read(limits.max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(index, f"cannot read file object: {exc}") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidInputError(index, "file object must be opened in binary mode")
        if not data:
            raise InvalidInputError(index, "file object is empty (0 bytes)")
        if len(data) > limits.max_bytes:
            raise InvalidInputError(
                index, f"file object is above max_image_bytes={limits.max_bytes}"
            )
        return bytes(data)
    check_image_input(item, index)
    raise InvalidInputError(index, f"unsupported image type {type(item).__name__}")


def _check_pixels(img: Image.Image, index: int, limits: ImageLimits) -> None:
    width, height = img.size
    if width * height > limits.max_pixels:
        raise InvalidInputError(
            index,
            f"image is {width}x{height} = {width * height} pixels, above "
            f"max_image_pixels={limits.max_pixels} (decompression-bomb guard)",
        )
    if width == 0 or height == 0:
        raise InvalidInputError(index, f"image has no pixels ({width}x{height})")


def decode_image(
    data: bytes, index: int, limits: ImageLimits, *, draft_size: int | None = None
) -> Image.Image:
    """Decode bytes into an EXIF-oriented ``PIL.Image`` (not yet converted to RGB).

    ``draft_size`` lets JPEG decode at a reduced scale that still covers that many pixels on the
    shorter side (a large speed-up for big photos).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(index, f"image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        head = data[:15].lower()
        hint = " (looks like HTML or text)" if head.lstrip().startswith((b"<", b"{")) else ""
        raise InvalidInputError(
            index, f"not a recognized image format ({len(data)} bytes){hint}"
        ) from exc
    _check_pixels(img, index, limits)
    if draft_size and img.format == "JPEG":
        img.draft("RGB", (draft_size, draft_size))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(index, f"image data is truncated or corrupt: {exc}") from exc
    ImageOps.exif_transpose(img, in_place=True)  # our own decoded copy: no second full copy
    return img


def load_image(
    item: ImageInput, index: int, limits: ImageLimits, *, draft_size: int | None = None
) -> Image.Image:
    """Any accepted input -> an EXIF-oriented RGB ``PIL.Image``."""
    check_image_input(item, index)
    if isinstance(item, Image.Image):
        _check_pixels(item, index, limits)
        try:
            img = ImageOps.exif_transpose(item)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(index, f"cannot read PIL image: {exc}") from exc
    else:
        img = decode_image(
            read_image_bytes(item, index, limits), index, limits, draft_size=draft_size
        )
    try:
        return img if img.mode == "RGB" else img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InvalidInputError(index, f"cannot convert image to RGB: {exc}") from exc


def resize_shortest(img: Image.Image, size: int) -> Image.Image:
    """Bicubic resize so the shorter side is ``size``; the longer side is truncated, not rounded."""
    width, height = img.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_w, new_h) == (width, height):
        return img
    return img.resize((new_w, new_h), Image.Resampling.BICUBIC)


def center_crop(img: Image.Image, size: int, rounding: str = "half_even") -> Image.Image:
    """Central ``size`` x ``size`` crop. Offsets are rounded half-to-even, as jina-clip's
    reference, or floored (``rounding="floor"``), as transformers' CLIP image processor."""
    width, height = img.size
    if rounding == "floor":
        top, left = (height - size) // 2, (width - size) // 2
    else:
        top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return img.crop((left, top, left + size, top + size))


def to_pixel_array(img: Image.Image, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """RGB image -> float32 (3, H, W): /255 then (x - mean) / std, all in float32."""
    x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """RGB image -> the model's normalized pixel array (3, size, size)."""
    img = center_crop(resize_shortest(img, spec.size), spec.size, spec.crop_rounding)
    return to_pixel_array(img, spec.mean, spec.std)


def draft_size(spec: PreprocessSpec) -> int | None:
    """How far a JPEG may be shrunk while decoding: to the smallest DCT scale (1/2, 1/4, 1/8)
    that still covers the model's size, or None for an exact full decode (the default).

    The bicubic resize then always has at least ``size`` pixels to work from; see
    benchmarks/README.md for the speed and pixel-difference figures.
    """
    return spec.size if spec.fast_decode else None


def load_pixels(
    item: ImageInput, index: int, spec: PreprocessSpec, limits: ImageLimits
) -> np.ndarray:
    """Load, validate and preprocess one input."""
    return preprocess(load_image(item, index, limits, draft_size=draft_size(spec)), spec)


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_for_upload(
    item: ImageInput, index: int, spec: PreprocessSpec | None, limits: ImageLimits
) -> bytes:
    """The bytes to send a remote model for one input, after the same guards as every path.

    With ``spec``, the image is cut to exactly what the model's preprocessing keeps
    (shortest-side resize + centre crop to ``spec.size``) and sent as lossless PNG, so the
    remote model sees the pixels a local one would and bills one tile. Without it, the original
    encoded bytes are sent (a PIL image is encoded as PNG).
    """
    if spec is not None:
        img = load_image(item, index, limits, draft_size=draft_size(spec))
        return _png(center_crop(resize_shortest(img, spec.size), spec.size))
    if isinstance(item, Image.Image):
        return _png(load_image(item, index, limits))
    data = read_image_bytes(item, index, limits)
    decode_image(data, index, limits)
    return data
