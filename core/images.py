"""Image loading and preprocessing: one place, one policy, used by every backend.

The chain for every input is: read bytes (path, URL, data URI, bytes, file object) -> decode with
guards (bytes, pixels) -> EXIF orientation -> RGB (16-bit scaled to 8-bit) -> shortest-side bicubic
resize -> centre crop -> CLIP mean/std. Every failure of one input, whatever raised it, becomes
:class:`~clipbridge.errors.InvalidInputError` naming the item's index and what was wrong: the
public functions below that take an ``index`` translate at that one boundary (``_one_input``).

Example::

    spec = PreprocessSpec(size=224)
    pixels = load_pixels("photo.jpg", 0, spec, ImageLimits())   # float32 (3, 224, 224)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import functools
import io
import math
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeAlias, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import (
    DEFAULT_IMAGE_FETCH_TIMEOUT,
    DEFAULT_MAX_IMAGE_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
    EmbedderConfig,
)
from .errors import InvalidInputError
from .urls import is_http_url

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGE_FORMATS",
    "ImageInput",
    "ImageLimits",
    "PreprocessSpec",
    "center_crop",
    "check_image_input",
    "decode_image",
    "decode_pixels",
    "describe_input",
    "draft_size",
    "encode_for_upload",
    "load_image",
    "load_pixels",
    "preprocess",
    "read_image_bytes",
    "read_url",
    "resize_center_crop",
    "resize_shortest",
    "resize_square",
    "to_pixel_array",
    "to_rgb",
]

ImageInput: TypeAlias = str | os.PathLike | bytes | bytearray | IO[bytes] | Image.Image
"""Anything clipbridge accepts as an image: a path, an http(s) URL, a ``data:`` URI, raw bytes,
a binary file object (``BytesIO``), or a ``PIL.Image``."""

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "AVIF", "BMP", "TIFF", "ICO")
"""The raster formats clipbridge decodes (Pillow's names; JPEG includes multi-picture MPO files;
AVIF where Pillow was built with it).

Encoded bytes from any source (path, URL, data URI, bytes, file object) are opened with only
these: Pillow knows many more, some of which hand the bytes to an external program (EPS and
PostScript run Ghostscript) or to rarely exercised decoders. Anything else is refused, naming
the format when Pillow recognizes it."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_P = ParamSpec("_P")
_R = TypeVar("_R")


# -- one boundary: every failure of one input is an InvalidInputError with its index -----------
def _reason(exc: BaseException) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return f"image is too large to decode safely: {exc}"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    return f"cannot decode image ({type(exc).__name__}: {exc})"


def _one_input(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Translate anything one input makes PIL, numpy or the OS raise into ``InvalidInputError``.

    The wrapped function takes the input's ``index`` as its second argument. Decoders raise a
    zoo of types on hostile bytes (OSError, SyntaxError, TypeError, struct.error, ...), so the
    net is deliberately wide; our own ``InvalidInputError`` passes through unchanged.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except InvalidInputError:
            raise
        except Exception as exc:
            index = kwargs["index"] if "index" in kwargs else args[1]
            raise InvalidInputError(index, _reason(exc)) from exc  # type: ignore[arg-type]

    return wrapper


# -- max_image_pixels replaces Pillow's own limit, for our decodes only -------------------------
# Pillow refuses (DecompressionBombError) images above 2 x Image.MAX_IMAGE_PIXELS and warns above
# it, wherever it decodes: Image.open, GIF frames, TIFF tiles, ICO sizes... Each place calls
# Image._decompression_bomb_check, which reads the module global. Changing the global would change
# it for every other Pillow user in the process, and changing it around our decodes would race
# with their threads. Instead the check is wrapped once, here: in a thread (or asyncio task)
# that is decoding for clipbridge, a ContextVar holds our max_image_pixels and the wrapper
# enforces exactly that limit (no warning: ours is an error or nothing); everywhere else the
# ContextVar is unset and Pillow's original check runs, reading its global as before. So the
# configured limit is the one in force for our decodes, above or below Pillow's, and nobody
# else's limit moves. If a future Pillow drops the function, its own limit simply stays in force.
_PIXEL_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "clipbridge_max_image_pixels", default=None
)


def _install_pixel_limit_hook() -> None:
    original = getattr(Image, "_decompression_bomb_check", None)
    if original is None or getattr(original, "_clipbridge_hook", False):
        return

    @functools.wraps(original)
    def check(size: tuple[int, int], *args: Any, **kwargs: Any) -> None:
        limit = _PIXEL_LIMIT.get()
        if limit is None:
            return original(size, *args, **kwargs)
        pixels = max(1, size[0]) * max(1, size[1])
        if pixels > limit:
            raise Image.DecompressionBombError(
                f"{size[0]}x{size[1]} = {pixels} pixels, above max_image_pixels={limit}"
            )
        return None

    check._clipbridge_hook = True  # type: ignore[attr-defined]
    Image._decompression_bomb_check = check


_install_pixel_limit_hook()


@contextlib.contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    token = _PIXEL_LIMIT.set(max_pixels)
    try:
        yield
    finally:
        _PIXEL_LIMIT.reset(token)


_OUTPUT_BOUNDED = 2**62
"""The pixel limit while resizing and cropping a decoded image to the model's size: that work is
bounded by the output (see :func:`resize_center_crop`); Pillow's crop check must not refuse it."""


# -- one reader at a time per shared object ---------------------------------------------------
# A lazily opened PIL.Image or a file object passed twice in one call (or to two calls at once)
# is read by two decode threads: PIL's lazy load and a file's seek/read position are not
# thread-safe. Each such object is read under a lock picked by its identity from a fixed pool
# (no per-object state to clean up; two different objects sharing a lock only wait briefly).
_OBJECT_LOCKS = tuple(threading.Lock() for _ in range(64))


def _object_lock(item: object) -> threading.Lock:
    return _OBJECT_LOCKS[(id(item) >> 4) % len(_OBJECT_LOCKS)]


@dataclass(frozen=True, kw_only=True)
class ImageLimits:
    """Guards applied to every image: bytes read, decoded pixels, URL fetch deadline and
    whether URLs may reach private addresses (see :mod:`clipbridge.fetch`)."""

    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    fetch_timeout: float = DEFAULT_IMAGE_FETCH_TIMEOUT
    allow_private_urls: bool = False

    @classmethod
    def from_config(cls, config: EmbedderConfig) -> ImageLimits:
        return cls(
            max_pixels=config.max_image_pixels,
            max_bytes=config.max_image_bytes,
            fetch_timeout=config.image_fetch_timeout,
            allow_private_urls=config.allow_private_urls,
        )


@dataclass(frozen=True, kw_only=True)
class PreprocessSpec:
    """The model's image preprocessing (``preprocessor_config.json``)."""

    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    fast_decode: bool = False
    crop_rounding: str = "half_even"  # centre-crop offsets: "half_even" (jina) or "floor" (HF)
    resize_mode: str = "shortest"  # "shortest" side + centre crop, or "squash" to size x size

    @classmethod
    def from_preprocessor_config(cls, data: dict[str, Any], **overrides: Any) -> PreprocessSpec:
        mode = data.get("resize_mode", "shortest")
        if mode not in ("shortest", "squash"):
            raise ValueError(f"unsupported resize_mode {mode!r} (use 'shortest' or 'squash')")
        size = data.get("size", 224)
        if isinstance(size, dict):  # {"shortest_edge": n} or {"height": n, "width": n}
            size = size.get("shortest_edge") or size.get("height")
        return cls(
            size=int(size),
            mean=tuple(data.get("mean", CLIP_MEAN)),
            std=tuple(data.get("std", CLIP_STD)),
            crop_rounding=data.get("crop_rounding", "half_even"),
            resize_mode=mode,
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


def _check_size(size: int, index: int, limits: ImageLimits, what: str) -> None:
    """Refuse an empty input, or one above ``max_image_bytes`` (a file object is read to one
    byte past the limit, not to its end: its ``size`` then says only that it is larger)."""
    if size == 0:
        raise InvalidInputError(index, f"{what} is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InvalidInputError(
            index, f"{what} is {size} bytes or more, above max_image_bytes={limits.max_bytes}"
        )


def _read_file(path: Path, index: int, limits: ImageLimits) -> bytes:
    try:
        if not path.exists():
            raise InvalidInputError(index, f"file not found: {describe_input(str(path))}")
        is_dir = path.is_dir()
        size = path.stat().st_size
    except OSError as exc:  # e.g. a long string that is no path: "File name too long"
        hint = ""
        if len(str(path)) > 255:
            hint = " (base64 image data must be passed as a data: URI or as bytes)"
        reason = exc.strerror or str(exc)
        raise InvalidInputError(
            index, f"cannot open {describe_input(str(path))} as a file: {reason}{hint}"
        ) from exc
    if is_dir:
        raise InvalidInputError(index, f"{str(path)!r} is a directory, not an image file")
    _check_size(size, index, limits, f"file {str(path)!r}")
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


def read_url(url: str, index: int, limits: ImageLimits) -> bytes:
    """The bytes at an http(s) ``url``, fetched under ``limits`` by :mod:`clipbridge.fetch`."""
    from .fetch import fetch_image_bytes  # the network guard lives in one place

    return fetch_image_bytes(
        url,
        timeout=limits.fetch_timeout,
        max_bytes=limits.max_bytes,
        allow_private=limits.allow_private_urls,
        index=index,
    )


@_one_input
def read_image_bytes(item: ImageInput, index: int, limits: ImageLimits) -> bytes:
    """The encoded bytes behind any non-PIL input (path, URL, data URI, bytes, file object)."""
    if isinstance(item, (bytes, bytearray)):
        _check_size(len(item), index, limits, "the image data")
        return bytes(item)
    if isinstance(item, str):
        lowered = item[:16].lower()
        if is_http_url(item):
            return read_url(item, index, limits)
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
        _check_size(len(data), index, limits, "the file object")
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


@functools.cache
def _open_formats() -> tuple[str, ...]:
    """IMAGE_FORMATS this Pillow can open (Image.open raises KeyError for an unknown name)."""
    Image.init()
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)


def _sniffed_format(data: bytes) -> str | None:
    """The format Pillow would take ``data`` for, from its magic bytes alone (nothing decoded,
    no plugin's opener run): for the message refusing a format outside IMAGE_FORMATS."""
    Image.init()
    prefix = data[:16]
    for name, (_factory, accept) in Image.OPEN.items():
        try:
            result = accept(prefix) if accept is not None else False
        except Exception:  # an accept check that trips on odd bytes: not this format
            continue
        if result and not isinstance(result, str):  # a str is Pillow's "maybe" warning
            return name
    return None


def _unrecognized(data: bytes, index: int) -> InvalidInputError:
    hint = ""
    sniffed = _sniffed_format(data)
    if data[:15].lower().lstrip().startswith((b"<", b"{")):
        hint = "; looks like HTML or text"
    elif sniffed is not None and sniffed not in IMAGE_FORMATS:
        hint = f"; looks like {sniffed}, which is not accepted"
    formats = ", ".join(_open_formats())
    return InvalidInputError(
        index, f"not a recognized image format ({len(data)} bytes{hint}; accepted: {formats})"
    )


@_one_input
def decode_image(
    data: bytes, index: int, limits: ImageLimits, *, draft_size: int | None = None
) -> Image.Image:
    """Decode bytes into an EXIF-oriented ``PIL.Image`` (not yet converted to RGB).

    ``draft_size`` lets JPEG decode at a reduced scale that still covers that many pixels on the
    shorter side (a large speed-up for big photos). ``limits.max_pixels`` is the pixel limit in
    force, in place of Pillow's own ``Image.MAX_IMAGE_PIXELS``. Only :data:`IMAGE_FORMATS` are
    opened.
    """
    with _pixel_limit(limits.max_pixels):
        try:
            img = Image.open(io.BytesIO(data), formats=_open_formats())
        except Image.DecompressionBombError as exc:
            raise InvalidInputError(index, f"image is {exc} (decompression-bomb guard)") from exc
        except UnidentifiedImageError as exc:
            raise _unrecognized(data, index) from exc
        except Exception as exc:  # a known format whose header is cut short or corrupt
            raise InvalidInputError(
                index, f"image header is truncated or corrupt ({type(exc).__name__}: {exc})"
            ) from exc
        _check_pixels(img, index, limits)
        try:
            if draft_size and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            img.load()
        except Image.DecompressionBombError as exc:
            raise InvalidInputError(index, f"image is {exc} (decompression-bomb guard)") from exc
        except Exception as exc:
            raise InvalidInputError(
                index, f"image data is truncated or corrupt ({type(exc).__name__}: {exc})"
            ) from exc
        _check_pixels(img, index, limits)  # a frame or tile may differ from the header's size
        try:
            ImageOps.exif_transpose(img, in_place=True)  # our own decoded copy: no second copy
        except Exception as exc:
            raise InvalidInputError(
                index, f"EXIF orientation data is corrupt ({type(exc).__name__}: {exc})"
            ) from exc
    return img


# Wide grayscale modes to 8 bits: v / 257 rounded, so 16-bit 257*k reads back as k exactly.
_LUT_16_TO_8 = ((np.arange(65536, dtype=np.uint32) + 128) // 257).astype(np.uint8)


def to_rgb(img: Image.Image, index: int) -> Image.Image:
    """Any PIL mode -> RGB, without clipping wide grayscale.

    16-bit modes (``I;16*``) and ``I`` with values in 0..65535 are scaled to 8 bits (divided by
    257, rounded); ``convert("RGB")`` alone would clip them to 0..255, i.e. nearly white. ``F``
    (float) and ``I`` beyond 16 bits have no defined range and are refused, naming the mode.
    """
    if img.mode == "RGB":
        return img
    if img.mode == "F":
        raise InvalidInputError(
            index,
            "mode F (32-bit float pixels) has no defined value range; scale it to 8 bits "
            "yourself (mode 'L' or 'RGB') before embedding",
        )
    if img.mode == "I" or img.mode.startswith("I;16"):
        values = np.asarray(img)
        if img.mode == "I" and values.size:
            low, high = int(values.min()), int(values.max())
            if low < 0 or high > 65535:
                raise InvalidInputError(
                    index,
                    f"mode I (32-bit integer pixels) holds values {low}..{high}, beyond 16 bits "
                    "(0..65535): no defined range; scale it to 8 bits (mode 'L' or 'RGB') "
                    "before embedding",
                )
        img = Image.fromarray(_LUT_16_TO_8[values])
    try:
        return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            index, f"cannot convert mode {img.mode} image to RGB: {exc}"
        ) from exc


def _read_bytes(item: ImageInput, index: int, limits: ImageLimits) -> bytes:
    if hasattr(item, "read"):  # a shared file object: one seek + read at a time
        with _object_lock(item):
            return read_image_bytes(item, index, limits)
    return read_image_bytes(item, index, limits)


def _oriented_copy(item: Image.Image, index: int, limits: ImageLimits) -> Image.Image:
    """A caller's PIL image, loaded (under its lock, with our pixel limit) and EXIF-oriented."""
    _check_pixels(item, index, limits)
    with _object_lock(item), _pixel_limit(limits.max_pixels):
        try:
            return ImageOps.exif_transpose(item)  # a new image: the caller's stays untouched
        except Exception as exc:
            raise InvalidInputError(
                index, f"cannot read PIL image ({type(exc).__name__}: {exc})"
            ) from exc


@_one_input
def load_image(
    item: ImageInput, index: int, limits: ImageLimits, *, draft_size: int | None = None
) -> Image.Image:
    """Any accepted input -> an EXIF-oriented RGB ``PIL.Image``."""
    check_image_input(item, index)
    if isinstance(item, Image.Image):
        img = _oriented_copy(item, index, limits)
    else:
        img = decode_image(_read_bytes(item, index, limits), index, limits, draft_size=draft_size)
    return to_rgb(img, index)


def _shortest_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def resize_shortest(img: Image.Image, size: int) -> Image.Image:
    """Bicubic resize so the shorter side is ``size``; the longer side is truncated, not rounded."""
    new_w, new_h = _shortest_side_size(*img.size, size)
    if (new_w, new_h) == img.size:
        return img
    return img.resize((new_w, new_h), Image.Resampling.BICUBIC)


def _crop_offset(extra: int, rounding: str) -> int:
    """Where a centred crop starts in ``extra`` spare pixels: half of them, rounded half-to-even
    (jina-clip's reference) or floored (``"floor"``: transformers' CLIP image processor)."""
    return extra // 2 if rounding == "floor" else round(extra / 2.0)


def center_crop(img: Image.Image, size: int, rounding: str = "half_even") -> Image.Image:
    """Central ``size`` x ``size`` crop; ``rounding`` as in :func:`_crop_offset`."""
    width, height = img.size
    top, left = _crop_offset(height - size, rounding), _crop_offset(width - size, rounding)
    return img.crop((left, top, left + size, top + size))


_EXACT_RESIZE_OUTPUTS = 16
"""The full resize runs while it makes at most this many ``size x size`` outputs' worth of pixels
(or no more pixels than the source has); past that, only the kept region is resampled."""


def resize_center_crop(img: Image.Image, size: int, rounding: str = "half_even") -> Image.Image:
    """Shortest-side bicubic resize to ``size`` then the central ``size`` x ``size`` crop, with work
    bounded by the output.

    Exactly ``center_crop(resize_shortest(img, size), size)`` whenever that resize stays small:
    every ordinary photo, and every fixture. A thin strip (1x200,000 would become 224x44,800,000,
    about 40 GB) is instead cropped in source coordinates, with the filter's support as margin,
    and resampled to ``size`` x ``size`` in the same two passes (horizontal, then vertical) as
    the full resize: within 2/255 of it per channel, at the cost of the output.
    """
    width, height = img.size
    new_w, new_h = _shortest_side_size(width, height, size)
    if new_w * new_h <= max(width * height, _EXACT_RESIZE_OUTPUTS * size * size):
        return center_crop(resize_shortest(img, size), size, rounding)
    top, left = _crop_offset(new_h - size, rounding), _crop_offset(new_w - size, rounding)
    sx, sy = width / new_w, height / new_h  # source pixels per resized pixel
    x0, x1 = left * sx, min(width, (left + size) * sx)
    y0, y1 = top * sy, min(height, (top + size) * sy)
    # Bicubic reads 2 pixels either side, scaled by the reduction factor when shrinking.
    mx, my = 2.0 * max(sx, 1.0) + 1.0, 2.0 * max(sy, 1.0) + 1.0
    c0, c1 = max(0, math.floor(x0 - mx)), min(width, math.ceil(x1 + mx))
    r0, r1 = max(0, math.floor(y0 - my)), min(height, math.ceil(y1 + my))
    region = img.crop((c0, r0, c1, r1))
    bicubic = Image.Resampling.BICUBIC
    region = region.resize((size, r1 - r0), bicubic, box=(x0 - c0, 0, x1 - c0, r1 - r0))
    return region.resize((size, size), bicubic, box=(0, y0 - r0, size, y1 - r0))


def to_pixel_array(img: Image.Image, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """RGB image -> float32 (3, H, W): /255 then (x - mean) / std, all in float32."""
    x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def resize_square(img: Image.Image, size: int) -> Image.Image:
    """Bicubic resize to ``size`` x ``size`` without keeping the aspect ratio (SigLIP).

    PIL resizes horizontally first, so a tall thin strip would pass through a ``size`` x height
    intermediate; such a strip is resized transposed instead (long side first), which bounds the
    work by the input and differs from the direct resize only by the 8-bit rounding between the
    two passes.
    """
    width, height = img.size
    bicubic = Image.Resampling.BICUBIC
    if size * height <= max(width * height, _EXACT_RESIZE_OUTPUTS * size * size):
        return img.resize((size, size), bicubic)
    flipped = img.transpose(Image.Transpose.TRANSPOSE).resize((size, size), bicubic)
    return flipped.transpose(Image.Transpose.TRANSPOSE)


def preprocess(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """RGB image -> the model's normalized pixel array (3, size, size)."""
    if spec.resize_mode == "squash":
        img = resize_square(img, spec.size)
    else:
        img = resize_center_crop(img, spec.size, spec.crop_rounding)
    return to_pixel_array(img, spec.mean, spec.std)


def draft_size(spec: PreprocessSpec) -> int | None:
    """How far a JPEG may be shrunk while decoding: to the smallest DCT scale (1/2, 1/4, 1/8)
    that still covers the model's size, or None for an exact full decode (the default).

    The bicubic resize then always has at least ``size`` pixels to work from; see
    benchmarks/README.md for the speed and pixel-difference figures.
    """
    return spec.size if spec.fast_decode else None


@_one_input
def load_pixels(
    item: ImageInput, index: int, spec: PreprocessSpec, limits: ImageLimits
) -> np.ndarray:
    """Load, validate and preprocess one input."""
    img = load_image(item, index, limits, draft_size=draft_size(spec))
    with _pixel_limit(_OUTPUT_BOUNDED):
        return preprocess(img, spec)


@_one_input
def decode_pixels(
    data: bytes, index: int, spec: PreprocessSpec, limits: ImageLimits
) -> tuple[np.ndarray, tuple[int, int]]:
    """One guarded decode of encoded bytes -> (the model's pixel array, the image's size).

    The size is the full ``(width, height)`` as stored (what billing counts), also when
    ``spec.fast_decode`` let a JPEG decode at a reduced scale.
    """
    img = decode_image(data, index, limits, draft_size=draft_size(spec))
    size = img.size
    if spec.fast_decode and img.format == "JPEG":  # drafted: the header's size is the full one
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as header:
            size = header.size
    with _pixel_limit(_OUTPUT_BOUNDED):
        pixels = preprocess(to_rgb(img, index), spec)
    img.close()
    return pixels, size


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@_one_input
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
        with _pixel_limit(_OUTPUT_BOUNDED):
            return _png(resize_center_crop(img, spec.size, spec.crop_rounding))
    if isinstance(item, Image.Image):
        return _png(load_image(item, index, limits))
    data = _read_bytes(item, index, limits)
    decode_image(data, index, limits)
    return data
