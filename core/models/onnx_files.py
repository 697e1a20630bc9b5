"""The ONNX folder layout clipbridge writes and reads, and where exports are cached (no torch).

The layout is the one the hub's ``jinaai/jina-clip-v1`` repo and fastembed use: the
checkpoint's ``config.json``, tokenizer and preprocessor files at the top, and under ``onnx/``
one graph per tower::

    onnx/text_model.onnx     input_ids (int64, batch x length) -> text_embeds (batch x dim)
    onnx/vision_model.onnx   pixel_values (float32, batch x 3 x S x S) -> image_embeds

Dynamic int8 weights (7-bit values, :data:`REDUCE_RANGE`) go to ``onnx/text_model_int8.onnx``
and ``onnx/vision_model_int8.onnx`` (quantizing needs onnxruntime, not torch:
:func:`quantize_onnx_folder`).
Embeddings are the raw (unnormalized) pooled vectors; padding is recognised inside the text
graph from the model's pad id, so no ``attention_mask`` input is needed.

Example::

    text, vision = onnx_file_names("int8")    # ('onnx/text_model_int8.onnx', ...)
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

__all__ = [
    "EXPORT_FORMAT",
    "IMAGE_INPUT",
    "IMAGE_OUTPUT",
    "PRECISIONS",
    "REDUCE_RANGE",
    "TEXT_INPUT",
    "TEXT_OUTPUT",
    "WEIGHT_SUFFIXES",
    "cache_root",
    "checkpoint_key",
    "copy_support_files",
    "has_onnx_files",
    "onnx_file_names",
    "precision_for",
    "quantize_onnx_folder",
]

TEXT_INPUT, TEXT_OUTPUT = "input_ids", "text_embeds"
IMAGE_INPUT, IMAGE_OUTPUT = "pixel_values", "image_embeds"
PRECISIONS = ("float32", "int8")
# Bumped whenever the exported graphs change, so cached exports of older code are not reused
# (2: int8 weights in 7 bits, see REDUCE_RANGE).
EXPORT_FORMAT = 2
# int8 weights use 7 bits (-64..64): CPUs without VNNI (AVX2) multiply uint8 activations by int8
# weights with ``vpmaddubsw``, whose int16 sum of two products saturates past 32767 (255*127*2
# does); with 7-bit weights it cannot (255*64*2). Measured on random jina-clip-v1-sized weights
# on an AVX2 CPU, cosine to float32: 0.965 -> 0.9998 texts, 0.75-0.86 -> 0.998 images, same
# speed; with VNNI the full 8 bits gave 0.9999 / 0.9985.
REDUCE_RANGE = True
# Files an export does not copy from the checkpoint's folder (weights in any format).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx")


def precision_for(dtype: str) -> str:
    """The ONNX precision a config's ``dtype`` asks for: ``int8``, else ``float32``."""
    return "int8" if dtype == "int8" else "float32"


def onnx_file_names(precision: str) -> tuple[str, str]:
    """The text and vision graphs' paths inside an ONNX folder, for ``float32`` or ``int8``."""
    if precision not in PRECISIONS:
        raise ValueError(f"ONNX precision must be one of {PRECISIONS}, not {precision!r}")
    suffix = "" if precision == "float32" else "_int8"
    return f"onnx/text_model{suffix}.onnx", f"onnx/vision_model{suffix}.onnx"


def has_onnx_files(folder: Path, precision: str) -> bool:
    """Whether ``folder`` holds both graphs of ``precision``."""
    return all((folder / name).is_file() for name in onnx_file_names(precision))


def cache_root(cache_dir: str | None = None) -> Path:
    """Where exports are cached: ``<cache_dir>/clipbridge/onnx`` when a cache dir is configured,
    else ``$XDG_CACHE_HOME/clipbridge/onnx`` (``~/.cache/clipbridge/onnx``)."""
    if cache_dir:
        base = Path(cache_dir).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return base / "clipbridge" / "onnx"


def _file_digest(path: Path) -> str:
    """sha256 of a file; for a hub download, the blob's name already is it."""
    real = path.resolve()
    if real.parent.name == "blobs" and len(real.name) == 64:
        return real.name
    digest = hashlib.sha256()
    with real.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_key(folder: Path, weights: tuple[str, ...] = ("model.safetensors",)) -> str:
    """A short hash naming one checkpoint: its weights, its small files and the export format.

    Two folders with the same files share an export; a changed tokenizer or config, a changed
    weight file or a new export format each give a new key.
    """
    digest = hashlib.sha256(f"clipbridge-onnx-{EXPORT_FORMAT}".encode())
    for name in weights:
        digest.update(_file_digest(folder / name).encode())
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


_MAX_COPIED_FILE = 64 * 1024 * 1024  # tokenizer/config files; anything larger is not copied


def copy_support_files(source: Path, target: Path) -> None:
    """config.json, tokenizer and preprocessor files: every small non-weight file of a folder."""
    for path in sorted(source.iterdir()):
        if (
            path.is_file()
            and not path.name.endswith(WEIGHT_SUFFIXES)
            and path.stat().st_size <= _MAX_COPIED_FILE
        ):
            shutil.copyfile(path, target / path.name)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # int8 weights are a quarter of the float32 ones: one file unless even that passes 2 GB
    size = sum(p.stat().st_size for p in source.parent.glob(source.name + "*"))
    large = size > 6 * 1024**3
    quiet = logging.getLogger()  # quantize_dynamic logs a pre-processing hint on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            reduce_range=REDUCE_RANGE,
            use_external_data_format=large,
        )
    finally:
        quiet.setLevel(level)


def quantize_onnx_folder(source: Path, target: Path) -> None:
    """Add ``source``'s float32 graphs to ``target`` as dynamic int8 ones (signed 7-bit weights).

    ``target`` may be ``source`` itself. Each file is written under a temporary name and
    renamed when complete, so a reader never sees half a graph.
    """
    (target / "onnx").mkdir(parents=True, exist_ok=True)
    for fp32, int8 in zip(onnx_file_names("float32"), onnx_file_names("int8"), strict=True):
        partial = target / (int8 + f".{os.getpid()}.partial")
        try:
            _quantize(source / fp32, partial)
            partial.rename(target / int8)
        finally:
            partial.unlink(missing_ok=True)
