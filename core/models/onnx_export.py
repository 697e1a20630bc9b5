"""Export a model family to an ONNX folder (needs torch, onnx and onnxscript): :func:`export_onnx`.

Each tower becomes one graph traced by ``torch.export`` (the dynamo exporter) from the same
PyTorch modules the local backend runs, in float32, with dynamic batch (and, for texts, length).
Attention runs without query blocks while exporting: the block size is Python arithmetic on the
shape, which ``torch.export`` would freeze to the example's batch and length. Every graph is
checked afterwards to have kept its dynamic dimensions, so a fixed-length graph is never written
silently. ``int8`` quantizes the float32 graphs' weights dynamically
(``onnxruntime.quantization.quantize_dynamic``, signed int8).

Example::

    export_onnx("tests/fixtures/tiny-jina-clip-v1", "/tmp/tiny-onnx")
    export_onnx("jinaai/jina-clip-v1", "/tmp/v1-int8", precision="int8")
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from . import LoadedModel, load_model
from .families import family_for
from .hub import read_json
from .onnx_files import (
    IMAGE_INPUT,
    IMAGE_OUTPUT,
    TEXT_INPUT,
    TEXT_OUTPUT,
    copy_support_files,
    onnx_file_names,
    quantize_onnx_folder,
)

__all__ = ["export_onnx"]


class _TextGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(input_ids)


class _ImageGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixel_values)


@contextlib.contextmanager
def _whole_attention(model: nn.Module) -> Iterator[None]:
    """Attention over all queries at once (no shape arithmetic) while the model is traced."""
    layers = [m for m in model.modules() if hasattr(type(m), "query_blocks")]
    for layer in layers:
        layer.query_blocks = False
    try:
        yield
    finally:
        for layer in layers:
            del layer.query_blocks  # back to the class default


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress prints and warnings, kept off the user's terminal."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(open(os.devnull, "w")),
    ):
        warnings.simplefilter("ignore")
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)


def _export(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    names: tuple[str, str],
    dims: dict[int, str],
) -> None:
    from torch.export import Dim

    shapes = {names[0]: {axis: Dim(name) for axis, name in dims.items()}}
    with _quiet():
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_shapes=shapes,
            verbose=False,
        )
        program.save(str(path))
    _check_dynamic(path, names[0], dims)


def _check_dynamic(path: Path, name: str, dims: dict[int, str]) -> None:
    """Raise if the graph's input lost a dynamic dimension (``torch.export`` specialised it)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    (tensor,) = [i for i in graph.input if i.name == name]
    shape = tensor.type.tensor_type.shape.dim
    fixed = [axis for axis in dims if not shape[axis].dim_param]
    if fixed:
        raise RuntimeError(
            f"the exported {path.name} has a fixed size on axis {fixed} of {name}; "
            "the export would only accept the example's shape"
        )


def write_onnx_folder(loaded: LoadedModel, out: Path, precision: str = "float32") -> None:
    """Write ``loaded`` (a float32 CPU model) as an ONNX folder into the empty folder ``out``.

    The float32 graphs are always written (fastembed and the hub's layout read those); ``int8``
    adds the quantized ones beside them.
    """
    text_name, image_name = onnx_file_names("float32")
    copy_support_files(loaded.folder, out)
    (out / "onnx").mkdir(exist_ok=True)
    model = loaded.model
    ids = torch.full((2, 16), loaded.pad_token_id, dtype=torch.long)
    tokens = loaded.tokenizer.encode("a photo of a bridge at dusk").ids[:16]
    ids[0, : len(tokens)] = torch.tensor(tokens)
    ids[1, : len(tokens) // 2] = torch.tensor(tokens[: len(tokens) // 2])
    size = int(loaded.preprocessor.get("size", 224))
    pixels = torch.zeros(2, 3, size, size)
    text_dims, image_dims = {0: "batch", 1: "sequence"}, {0: "batch"}
    with torch.inference_mode(False), torch.no_grad(), _whole_attention(model):
        _export(_TextGraph(model), ids, out / text_name, (TEXT_INPUT, TEXT_OUTPUT), text_dims)
        _export(
            _ImageGraph(model), pixels, out / image_name, (IMAGE_INPUT, IMAGE_OUTPUT), image_dims
        )
    if precision == "int8":
        quantize_onnx_folder(out, out)


def export_onnx(
    model: str,
    out: str | os.PathLike[str],
    *,
    precision: str = "float32",
    revision: str | None = None,
    cache_dir: str | None = None,
) -> Path:
    """Export ``model`` (a folder or hub id with PyTorch weights) to the ONNX folder ``out``.

    ``out`` must not exist or be an empty folder; the files are written next to it first and
    moved into place at the end, so an interrupted export leaves nothing half-written there.
    """
    onnx_file_names(precision)  # checks the name
    out = Path(out).expanduser()
    loaded = load_model(
        model, device="cpu", dtype="float32", revision=revision, cache_dir=cache_dir
    )
    family = family_for(read_json(loaded.folder / "config.json"))
    if family.describer is None:
        raise ModelLoadError(
            f"{model!r} is a {family.name} model; the ONNX export covers jina-clip-v1 and "
            "jina-clip-v2 (run it with backend='local')"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    work.mkdir()
    try:
        write_onnx_folder(loaded, work, precision)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out
