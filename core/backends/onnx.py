"""`OnnxBackend`: jina-clip-v1/v2 through ONNX Runtime, without torch.

The model is an ONNX folder (:mod:`clipbridge.models.onnx_files`): a local one, the ONNX files a
hub repo ships in that layout, or, for a PyTorch checkpoint, an export made once into the cache
(that first time needs torch) and reused after.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..config import EmbedderConfig
from ..errors import ModelLoadError
from ..models import describe_model
from ..models.families import family_for
from ..models.hub import fetch_config, model_source, read_json
from ..models.onnx_files import (
    IMAGE_INPUT,
    IMAGE_OUTPUT,
    TEXT_INPUT,
    TEXT_OUTPUT,
    cache_root,
    checkpoint_key,
    copy_support_files,
    has_onnx_files,
    onnx_file_names,
    precision_for,
    quantize_onnx_folder,
)
from .pipeline import ModelPipeline

__all__ = ["OnnxBackend", "clear_session_cache", "onnx_folder"]

log = logging.getLogger("clipbridge")

# One session.run sees at most this many tokens (rows x padded length) or images: ONNX Runtime
# holds a whole run's activations at once, so a batch of 32 images or 8x512 tokens in one run
# peaked ~1 GB above torch; in slices of these sizes the speed is the same (measured at 2 threads).
TOKENS_PER_RUN = 1024
IMAGES_PER_RUN = 4

_sessions: dict[tuple[str, tuple[str, ...]], ort.InferenceSession] = {}
_sessions_lock = threading.Lock()


def _providers(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device in ("auto", "cpu"):
        cuda = device == "auto" and "CUDAExecutionProvider" in available
        return (
            ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        )
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise ModelLoadError(
                f"device={device!r} but this onnxruntime has no CUDA provider; install "
                "onnxruntime-gpu or use device='cpu'"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ModelLoadError(f"the onnx backend runs on device='cpu' or 'cuda', not {device!r}")


def _session(path: Path, providers: list[str]) -> ort.InferenceSession:
    """One ONNX Runtime session per graph file and providers, shared by the process.

    The CPU memory arena is on and grows by what is requested (``kSameAsRequested``), not in
    doubling chunks: measured on jina-clip-v1 at 2 threads, that peaks ~200 MB lower than with the
    arena off (whose peak jumps on long texts) and runs as fast as fastembed's default arena.
    The largest batch's activations stay reserved after it.
    """
    key = (str(path.resolve()), tuple(providers))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only: no constant-folding notes
            chosen: list[Any] = [
                (p, {"arena_extend_strategy": "kSameAsRequested"})
                if p == "CPUExecutionProvider"
                else p
                for p in providers
            ]
            try:
                session = ort.InferenceSession(str(path), options, providers=chosen)
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelLoadError(f"cannot load {path}: {exc}") from exc
            _sessions[key] = session
        return session


def clear_session_cache() -> None:
    """Forget every ONNX Runtime session (they are freed once no Embedder holds them)."""
    with _sessions_lock:
        _sessions.clear()


def _exported(folder: Path, precision: str, cache_dir: str | None) -> Path:
    """The cached ONNX export of the PyTorch checkpoint in ``folder``, made now if missing.

    Exporting needs torch (once per checkpoint); the cached folder is named by the checkpoint's
    hash, so a changed checkpoint is exported again and an unchanged one never is.
    """
    family = family_for(read_json(folder / "config.json"), str(folder / "config.json"))
    if family.describer is None:
        raise ModelLoadError(
            f"{str(folder)!r} holds a {family.name} model; the onnx backend runs jina-clip-v1 and "
            "jina-clip-v2 (use backend='local' for this one)"
        )
    if not (folder / "model.safetensors").is_file():
        text, image = onnx_file_names(precision)
        raise ModelLoadError(
            f"model folder {str(folder)!r} has neither ONNX files ({text}, {image}) "
            "nor model.safetensors to export them from"
        )
    target = cache_root(cache_dir) / f"{family.name}-{checkpoint_key(folder)}"
    if not has_onnx_files(target, "float32"):
        try:
            from ..models.onnx_export import export_onnx
        except ImportError as exc:
            raise ModelLoadError(
                f"{str(folder)!r} holds PyTorch weights and no ONNX files; exporting them once "
                f"needs torch, which cannot be imported here ({exc}): pip install "
                "'clipbridge[local]', or run 'clipbridge export MODEL --out DIR' where torch is "
                "installed and load DIR"
            ) from exc
        log.info("exporting %s to ONNX once, into %s", folder, target)
        try:
            export_onnx(str(folder), target)
        except OSError:
            if not has_onnx_files(target, "float32"):  # else another process finished first
                raise
    return _with_precision(target, precision, cache_dir)


def _with_precision(folder: Path, precision: str, cache_dir: str | None) -> Path:
    """``folder`` if it has ``precision``'s graphs; for int8 from float32 ones, a folder with
    them quantized (in place for a cached export, else a cached copy). No torch needed."""
    if has_onnx_files(folder, precision):
        return folder
    if precision != "int8" or not has_onnx_files(folder, "float32"):
        text, image = onnx_file_names(precision)
        raise ModelLoadError(
            f"model folder {str(folder)!r} has no {text} and {image}; "
            f"export them with: clipbridge export MODEL --out DIR --dtype {precision}"
        )
    root = cache_root(cache_dir)
    if folder.resolve().is_relative_to(root.resolve()):
        target = folder
    else:
        key = checkpoint_key(folder, onnx_file_names("float32"))
        target = root / f"quantized-{key}"
        target.mkdir(parents=True, exist_ok=True)
        copy_support_files(folder, target)
    log.info("quantizing %s's ONNX graphs to int8 once, into %s", folder, target)
    quantize_onnx_folder(folder, target)
    return target


def onnx_folder(
    model: str, precision: str, *, revision: str | None = None, cache_dir: str | None = None
) -> Path:
    """The ONNX folder for ``model``: itself, the hub repo's own ONNX files, or a cached export
    (int8 graphs are quantized from float32 ones when only those exist)."""
    source = model_source(model)
    if isinstance(source, Path):
        if has_onnx_files(source, "float32") or has_onnx_files(source, precision):
            return _with_precision(source, precision, cache_dir)
        return _exported(source, precision, cache_dir)
    _, config, fetch = fetch_config(source, revision=revision, cache_dir=cache_dir)
    family = family_for(config, f"{source}/config.json")
    for wanted in dict.fromkeys((precision, "float32")):
        try:  # the repo's own ONNX files, when it ships them in this layout
            folder = fetch((*family.info_files, *onnx_file_names(wanted)))
        except ModelLoadError:
            continue
        return _with_precision(folder, precision, cache_dir)
    return _exported(fetch(family.files), precision, cache_dir)


class OnnxBackend(ModelPipeline):
    """Runs jina-clip-v1/v2 with ONNX Runtime: same tokenizer, batching, image loading and errors
    as :class:`~clipbridge.backends.local.LocalBackend` (both are a :class:`ModelPipeline`);
    only the forward calls differ. ``dtype="int8"`` uses the dynamically quantized graphs.

    Example::

        backend = OnnxBackend(EmbedderConfig(model="tiny-onnx", backend="onnx"))
        raw = backend.embed_texts(["a photo of a cat"])   # unnormalized float32 (1, dim)
    """

    def __init__(self, config: EmbedderConfig) -> None:
        self.precision = precision_for(config.dtype)
        self.folder = onnx_folder(
            config.model, self.precision, revision=config.revision, cache_dir=config.cache_dir
        )
        super().__init__(config, describe_model(self.folder))
        self.providers = _providers(config.device)
        self.text_file, self.image_file = (self.folder / n for n in onnx_file_names(self.precision))

    @property
    def device(self) -> str:
        """``cuda`` or ``cpu``: where ONNX Runtime runs the graphs."""
        return "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"

    def details(self) -> dict[str, Any]:
        """What ``clipbridge info`` prints about this backend."""
        return {
            "family": self.model_info.family,
            "device": self.device,
            "dtype": self.precision,
            "folder": str(self.folder),
            "image_size": self.spec.size,
        }

    def _run(self, path: Path, wanted: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        session = _session(path, self.providers)
        names = [o.name for o in session.get_outputs()]
        (out,) = session.run([wanted if wanted in names else names[0]], inputs)
        return np.asarray(out, dtype=np.float32)

    def forward_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = {TEXT_INPUT: ids}
        session = _session(self.text_file, self.providers)
        if any(i.name == "attention_mask" for i in session.get_inputs()):  # a hub graph may ask
            inputs["attention_mask"] = mask.astype(np.int64)
        rows = max(1, TOKENS_PER_RUN // ids.shape[1])
        parts = [
            self._run(self.text_file, TEXT_OUTPUT, {k: v[i : i + rows] for k, v in inputs.items()})
            for i in range(0, len(ids), rows)
        ]
        return np.concatenate(parts)

    def forward_image(self, pixels: np.ndarray) -> np.ndarray:
        pixels = pixels.astype(np.float32)
        parts = [
            self._run(self.image_file, IMAGE_OUTPUT, {IMAGE_INPUT: pixels[i : i + IMAGES_PER_RUN]})
            for i in range(0, len(pixels), IMAGES_PER_RUN)
        ]
        return np.concatenate(parts)
