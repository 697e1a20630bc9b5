"""Compact embeddings: scalar (``int8``/``uint8``) and sign-bit (``binary``/``ubinary``) vectors.

Pure numpy, no model and no calibration data: every rule is fixed, so two processes (or the
local and the API backend) quantizing the same float vector get the same bytes.

========== ========= ============================ ======================================
precision  dtype     width for ``d`` dimensions   value
========== ========= ============================ ======================================
float32    float32   ``d``                        the L2-normalized vector
int8       int8      ``d``                        ``clip(round(v / r * 127), -127, 127)``
uint8      uint8     ``d``                        the int8 value + 128 (1 to 255)
ubinary    uint8     ``ceil(d / 8)``              ``np.packbits(v > 0)`` (first dimension
                                                  in the high bit; zero-padded at the end)
binary     int8      ``ceil(d / 8)``              the ubinary byte - 128
========== ========= ============================ ======================================

``r`` is :func:`int8_range`: ``min(1, 8 / sqrt(d))``. A component of a random unit vector has
standard deviation ``1 / sqrt(d)``, so ``r`` is 8 of them (0.289 for 768 dimensions, 0.25 for
1024): wide enough that a real model's uneven dimensions are almost never clipped, narrow enough
that one int8 step (``r / 127``) is 1/16 of that deviation. ``binary``/``ubinary`` are the
convention of sentence-transformers' ``quantize_embeddings`` and of the Jina API's
``embedding_type``.

Example::

    from clipbridge.precision import quantize, dequantize

    codes = quantize(vectors, "ubinary")             # uint8 (n, 96) for 768-d vectors
    approx = dequantize(codes, "ubinary", 768)       # float32 (n, 768) of +-1/sqrt(768)
    scores = dequantize(q, "int8", 768) @ dequantize(codes8, "int8", 768).T
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = [
    "PRECISIONS",
    "Precision",
    "bytes_per_vector",
    "check_precision",
    "dequantize",
    "int8_range",
    "output_dtype",
    "output_width",
    "quantize",
]

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")
"""Every ``precision`` value, sentence-transformers' names."""

INT8_STDS = 8.0
"""The int8/uint8 range in standard deviations of a random unit vector's component."""

_DTYPES = {
    "float32": np.float32,
    "int8": np.int8,
    "uint8": np.uint8,
    "binary": np.int8,
    "ubinary": np.uint8,
}


def check_precision(precision: object, *, normalize: bool = True) -> None:
    """Raise ``ValueError`` for an unknown precision, or int8/uint8 without normalization
    (their fixed range is one for unit vectors)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, not {precision!r}")
    if precision in ("int8", "uint8") and not normalize:
        raise ValueError(
            f"precision={precision!r} needs normalize=True: its fixed range is for unit vectors"
        )


def output_dtype(precision: str) -> type[np.generic]:
    """The numpy dtype of vectors of ``precision``."""
    check_precision(precision)
    return _DTYPES[precision]


def output_width(dimension: int, precision: str) -> int:
    """Values per vector: ``dimension``, or ``ceil(dimension / 8)`` bytes for the bit types."""
    check_precision(precision)
    return math.ceil(dimension / 8) if precision in ("binary", "ubinary") else dimension


def bytes_per_vector(dimension: int, precision: str) -> int:
    """Storage of one vector: 3072 (float32), 768 (int8/uint8) or 96 (binary) for 768-d.

    >>> [bytes_per_vector(768, p) for p in PRECISIONS]
    [3072, 768, 768, 96, 96]
    """
    return output_width(dimension, precision) * np.dtype(output_dtype(precision)).itemsize


def int8_range(dimension: int) -> float:
    """``r``: int8/uint8 map ``[-r, r]`` onto ``[-127, 127]``; ``min(1, 8 / sqrt(dimension))``.

    >>> round(int8_range(768), 4), int8_range(1024), int8_range(16)
    (0.2887, 0.25, 1.0)
    """
    return min(1.0, INT8_STDS / math.sqrt(dimension))


def quantize(vectors: np.ndarray, precision: str) -> np.ndarray:
    """Float vectors ``(n, d)`` (L2-normalized for int8/uint8) -> ``precision``, see the table.

    ``float32`` returns the vectors as float32. The sign bits treat 0 as negative (bit 0).

    >>> quantize(np.array([[0.5, -0.1, 0.0, 2.0, -3.0, 1.0, 1.0, -1.0, 0.2]]), "ubinary")
    array([[150, 128]], dtype=uint8)
    """
    check_precision(precision)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"quantize expects a 2-d array (n, dim), got shape {vectors.shape}")
    if precision == "float32":
        return vectors
    if precision in ("binary", "ubinary"):
        bits = np.packbits(vectors > 0, axis=1)
        return bits if precision == "ubinary" else (bits.astype(np.int16) - 128).astype(np.int8)
    scale = 127.0 / int8_range(vectors.shape[1])
    codes = np.clip(np.rint(vectors * scale), -127, 127).astype(np.int16)
    return codes.astype(np.int8) if precision == "int8" else (codes + 128).astype(np.uint8)


def dequantize(codes: np.ndarray, precision: str, dimension: int) -> np.ndarray:
    """Float32 ``(n, dimension)`` stand-ins whose dot products rank as the compact vectors do.

    int8/uint8: the values times ``r / 127`` (the vector the code stands for). binary/ubinary:
    each bit as ``+-1 / sqrt(dimension)``, a unit vector whose dot products are
    ``1 - 2 * hamming / dimension``. For scoring (eval) and re-ranking, not to recover the input.
    """
    check_precision(precision)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != output_width(dimension, precision):
        raise ValueError(
            f"{precision} codes of {dimension}-d vectors have shape (n, "
            f"{output_width(dimension, precision)}), not {codes.shape}"
        )
    if precision == "float32":
        return codes.astype(np.float32, copy=False)
    if precision in ("binary", "ubinary"):
        packed = codes.astype(np.uint8) if precision == "ubinary" else _unsigned(codes)
        bits = np.unpackbits(packed, axis=1, count=dimension).astype(np.float32)
        return (bits * 2.0 - 1.0) / np.float32(math.sqrt(dimension))
    values = codes.astype(np.float32)
    if precision == "uint8":
        values -= 128.0
    return values * np.float32(int8_range(dimension) / 127.0)


def _unsigned(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.int16) + 128).astype(np.uint8)
