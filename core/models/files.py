"""Family-neutral PyTorch loading: devices and dtypes, the one safetensors loader.

Where a checkpoint's files are (a folder or the hub) is :mod:`clipbridge.models.hub`, which needs
no torch; its names are re-exported here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError
from .hub import HUB_PROBE_TIMEOUT, fetch_model_files, hub_reachable, model_source, read_json

__all__ = [
    "CPU_DTYPE_ENV",
    "HUB_PROBE_TIMEOUT",
    "WeightPlan",
    "compute_dtype_for",
    "cpu_capability",
    "cpu_native_matmul",
    "fetch_model_files",
    "hub_reachable",
    "load_weights",
    "model_source",
    "read_header",
    "read_json",
    "read_tensor",
    "resolve_device",
    "resolve_dtype",
]

CPU_DTYPE_ENV = "CLIPBRIDGE_CPU_DTYPE"  # what dtype="auto" means on a CPU, when set
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# -- device and dtype -----------------------------------------------------------------------------
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


def cpu_native_matmul(dtype: torch.dtype) -> bool:
    """True when this CPU runs ``dtype`` matrix products natively (oneDNN's own check).

    bfloat16 needs AVX512-BF16 or AMX, float16 AVX512-FP16 or AMX-FP16; float32 is always native.
    """
    if dtype == torch.float32:
        return True
    checks = {
        torch.bfloat16: "_is_mkldnn_bf16_supported",
        torch.float16: "_is_mkldnn_fp16_supported",
    }
    try:
        return bool(getattr(torch.ops.mkldnn, checks[dtype])())
    except (AttributeError, KeyError, RuntimeError):
        return False


def cpu_capability() -> str:
    """One line on what this CPU offers: ``"AVX2; native bf16: no"``."""
    native = "yes" if cpu_native_matmul(torch.bfloat16) else "no"
    return f"{torch.backends.cpu.get_cpu_capability()}; native bf16: {native}"


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The weights' dtype for ``dtype`` on ``device``.

    ``"auto"`` is bfloat16 on CUDA and on CPUs with native bf16 matrix instructions (3-4x faster
    than float32 there, cosine >= 0.9997 to it), float32 elsewhere. ``"float32"`` is the exact
    one (the reference's outputs within 1e-5). ``CLIPBRIDGE_CPU_DTYPE`` (``float32`` or
    ``bfloat16``) overrides what ``"auto"`` means on a CPU.
    """
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16
        if device.type != "cpu":
            return torch.float32
        forced = os.environ.get(CPU_DTYPE_ENV, "").strip()
        if forced:
            if forced not in ("float32", "bfloat16"):
                raise ModelLoadError(
                    f"{CPU_DTYPE_ENV} must be 'float32' or 'bfloat16', not {forced!r}"
                )
            return _DTYPES[forced]
        return torch.bfloat16 if cpu_native_matmul(torch.bfloat16) else torch.float32
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
    return dtype if cpu_native_matmul(dtype) else torch.float32


# -- safetensors, one tensor at a time ------------------------------------------------------------
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


def read_header(fh: Any) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header (tensor name -> dtype, shape, offsets) and the data start."""
    size = int.from_bytes(fh.read(8), "little")
    if not 0 < size <= _MAX_HEADER:
        raise ValueError(f"not a safetensors file (header size {size})")
    header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def read_tensor(fh: Any, info: dict[str, Any], base: int) -> torch.Tensor:
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


Reader = Callable[[str], torch.Tensor]


class WeightPlan:
    """Which checkpoint tensor fills which module entry: by default each key is its own, keys
    under ``ignored`` prefixes aside. A family whose file is laid out otherwise subclasses it
    (jina-clip-v2 merges its LoRA adapters: :class:`.jina_clip_v2.lora.LoraMerge`).

    Example::

        load_weights(model, folder / "model.safetensors", device, dtype, what="jina-clip-v1",
                     plan=WeightPlan(ignored=("text_model.transformer.pooler.",)))
    """

    def __init__(self, ignored: tuple[str, ...] = ()) -> None:
        self.ignored = ignored

    def keys(self, header: dict[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
        """Module key -> checkpoint key, plus the checkpoint's missing and unexpected keys that
        are not module entries (auxiliary tensors such as adapters)."""
        return {k: k for k in header if not k.startswith(self.ignored)}, [], []

    def finish(
        self, model: torch.nn.Module, target: str, key: str, tensor: torch.Tensor, read: Reader
    ) -> None:
        """Change ``tensor`` (already in the load dtype) in place before it becomes ``target``;
        ``read`` reads any other checkpoint tensor as stored."""


def load_weights(
    model: torch.nn.Module,
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    *,
    what: str,
    plan: WeightPlan | None = None,
) -> None:
    """Fill a meta-device ``model`` from ``path``, tensor by tensor, in file order.

    ``plan`` (default: each key its own) says which tensor fills which entry. Every entry must be
    filled with its exact shape; a mismatch lists the missing and unexpected keys, naming the
    model as ``what``.
    """
    plan = plan or WeightPlan()
    expected = model.state_dict(keep_vars=True)
    state: dict[str, torch.Tensor] = {}
    try:
        with path.open("rb") as fh:
            header, base = read_header(fh)
            keys, extra_missing, extra_unexpected = plan.keys(header)
            missing = sorted(set(expected) - set(keys)) + extra_missing
            unexpected = sorted(set(keys) - set(expected)) + extra_unexpected
            if missing or unexpected:
                raise ModelLoadError(
                    f"{path} does not match {what}: missing keys {missing or 'none'}; "
                    f"unexpected keys {unexpected or 'none'}"
                )

            def read(key: str) -> torch.Tensor:
                return read_tensor(fh, header[key], base)

            for target, key in sorted(keys.items(), key=lambda kv: header[kv[1]]["data_offsets"]):
                want = tuple(expected[target].shape)
                if tuple(header[key]["shape"]) != want:
                    raise ModelLoadError(
                        f"{path}: {key} has shape {tuple(header[key]['shape'])}, "
                        f"config implies {want}"
                    )
                tensor = read(key)
                if tensor.dtype != dtype:
                    tensor = tensor.to(dtype)
                plan.finish(model, target, key, tensor, read)
                state[target] = tensor.to(device)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot read weights from {path}: {exc}") from exc
    model.load_state_dict(state, strict=True, assign=True)
