"""Load jina-clip-v1 from a local folder or a Hugging Face repo id, without remote code.

Only the files the native model needs are fetched (the hub repo also holds large ONNX files).
Loaded models are cached per (folder, device, dtype) and shared by every Embedder in a process.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...config import hub_repo_id
from ...errors import ModelLoadError
from .config import JinaClipConfig
from .model import JinaClipModel

__all__ = [
    "REQUIRED_FILES",
    "LoadedModel",
    "clear_model_cache",
    "compute_dtype_for",
    "load_model",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_files",
]

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json")
_IGNORED_PREFIXES = ("text_model.transformer.pooler.",)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    """A ready model with its tokenizer and preprocessing settings."""

    model: JinaClipModel
    tokenizer: Any  # tokenizers.Tokenizer
    preprocessor: dict[str, Any]
    folder: Path
    device: torch.device
    dtype: torch.dtype
    compute_dtype: torch.dtype  # the activations' dtype; differs from ``dtype`` on some CPUs

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


_cache: dict[tuple[str, str, str], LoadedModel] = {}
_cache_lock = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded model (they are freed once no Embedder holds them)."""
    with _cache_lock:
        _cache.clear()


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device={device!r} but torch sees no CUDA GPU; use device='cpu'")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[dtype]


def compute_dtype_for(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype activations run in for weights stored in ``dtype``.

    On a CPU without native bfloat16/float16 matrix instructions (no AVX512-BF16/AMX/AVX512-FP16,
    e.g. AVX2-only x86), oneDNN cannot run half-precision GEMMs and PyTorch falls back to kernels
    5-50x slower than float32. There the weights stay in half precision (half the memory) and
    each layer computes in float32.
    """
    if device.type != "cpu" or dtype == torch.float32:
        return dtype
    checks = {
        torch.bfloat16: "_is_mkldnn_bf16_supported",
        torch.float16: "_is_mkldnn_fp16_supported",
    }
    try:
        native = bool(getattr(torch.ops.mkldnn, checks[dtype])())
    except (AttributeError, KeyError, RuntimeError):
        native = False
    return dtype if native else torch.float32


def _looks_like_repo_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~"))


def resolve_model_files(
    model: str, *, revision: str | None = None, cache_dir: str | None = None
) -> Path:
    """The local folder holding the model's files, downloading them from the hub if needed."""
    folder = Path(os.path.expanduser(model))
    if folder.is_dir():
        missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelLoadError(f"model folder {str(folder)!r} lacks {', '.join(missing)}")
        return folder
    model = hub_repo_id(model)
    if not _looks_like_repo_id(model):
        raise ModelLoadError(
            f"model {model!r} is neither an existing folder nor a Hugging Face repo id "
            "like 'jinaai/jina-clip-v1'"
        )
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - part of the 'local' extra
        raise ModelLoadError("downloading models needs: pip install 'clipbridge[local]'") from exc
    paths = []
    try:
        for name in REQUIRED_FILES:
            paths.append(Path(hf_hub_download(model, name, revision=revision, cache_dir=cache_dir)))
    except Exception as exc:
        raise ModelLoadError(
            f"could not get {name} of {model!r} from the Hugging Face Hub and no cached copy "
            f"exists ({type(exc).__name__}). Pass a local folder (--model PATH / model=PATH) "
            "or use the API backend (backend='api')."
        ) from exc
    return paths[0].parent


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER = 100 * 1024 * 1024


def _read_header(fh: Any) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header (tensor name -> dtype, shape, offsets) and the data start."""
    size = int.from_bytes(fh.read(8), "little")
    if not 0 < size <= _MAX_HEADER:
        raise ValueError(f"not a safetensors file (header size {size})")
    header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def _read_tensor(fh: Any, info: dict[str, Any], base: int) -> torch.Tensor:
    """One tensor read with plain file I/O into fresh memory.

    Plain reads instead of ``safe_open``'s memory map: mapped file pages stay resident until the
    file is closed, so converting a float32 file to bfloat16 through the map held the whole file
    plus the converted model. Here the peak is the model plus one source tensor.
    """
    tensor = torch.empty(info["shape"], dtype=_SAFETENSORS_DTYPES[info["dtype"]])
    raw = tensor.reshape(-1).view(torch.uint8).numpy()
    begin, end = info["data_offsets"]
    if end - begin != raw.nbytes:
        raise ValueError(f"{end - begin} bytes stored for shape {info['shape']} {info['dtype']}")
    fh.seek(base + begin)
    if fh.readinto(memoryview(raw)) != raw.nbytes:
        raise ValueError("file is truncated")
    return tensor


def _load_weights(model: JinaClipModel, path: Path, device: torch.device, dtype: torch.dtype):
    expected = model.state_dict(keep_vars=True)
    state: dict[str, torch.Tensor] = {}
    try:
        with path.open("rb") as fh:
            header, base = _read_header(fh)
            keys = [k for k in header if not k.startswith(_IGNORED_PREFIXES)]
            missing = sorted(set(expected) - set(keys))
            unexpected = sorted(set(keys) - set(expected))
            if missing or unexpected:
                raise ModelLoadError(
                    f"{path} does not match jina-clip-v1: missing keys {missing or 'none'}; "
                    f"unexpected keys {unexpected or 'none'}"
                )
            for key in sorted(keys, key=lambda k: header[k]["data_offsets"][0]):
                want = tuple(expected[key].shape)
                if tuple(header[key]["shape"]) != want:
                    raise ModelLoadError(
                        f"{path}: {key} has shape {tuple(header[key]['shape'])}, "
                        f"config implies {want}"
                    )
                state[key] = _read_tensor(fh, header[key], base).to(device=device, dtype=dtype)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot read weights from {path}: {exc}") from exc
    model.load_state_dict(state, strict=True, assign=True)


def _build(folder: Path, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    from tokenizers import Tokenizer

    try:
        config = JinaClipConfig.from_dict(_read_json(folder / "config.json"))
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc
    with torch.device("meta"):
        model = JinaClipModel(config)
    _load_weights(model, folder / "model.safetensors", device, dtype)
    model.eval().requires_grad_(False)
    model.fuse()
    compute = compute_dtype_for(device, dtype)
    model.set_compute_dtype(compute)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    preprocessor = _read_json(folder / "preprocessor_config.json")
    return LoadedModel(model, tokenizer, preprocessor, folder, device, dtype, compute)


def load_model(
    model: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    revision: str | None = None,
    cache_dir: str | None = None,
) -> LoadedModel:
    """Load (or reuse) a model. ``jina-clip-v1`` and ``jinaai/jina-clip-v1`` name the same one."""
    folder = resolve_model_files(model, revision=revision, cache_dir=cache_dir)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    key = (str(folder.resolve()), str(dev), str(dt))
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _cache[key] = _build(folder, dev, dt)
        return loaded
