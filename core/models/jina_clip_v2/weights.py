"""Read jina-clip-v2's ``model.safetensors`` into the native model, merging the LoRA adapter.

The checkpoint stores each adapted weight as ``<name>.parametrizations.weight.original`` plus
``...weight.0.lora_A`` / ``lora_B`` (one slice per task). jina-clip-v2 applies the adapter of
``default_lora_task`` to every text, so the effective weight is computed once here:

- Linear (weight [out, in]): ``W + (lora_B[t] @ lora_A[t]) * alpha / rank``
- Embedding (weight [num, dim]): ``W + (lora_A[t] @ lora_B[t]) * alpha / rank``

The merge runs in float32 on row blocks of the weight, in place in the tensor that becomes the
parameter, so loading a 16-bit file as 16-bit never holds a float32 copy of the model (nor of the
250k-row embedding table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import ModelLoadError
from ..files import read_header, read_tensor

__all__ = ["load_weights"]

ORIGINAL = ".parametrizations.weight.original"
LORA_A = ".parametrizations.weight.0.lora_A"
LORA_B = ".parametrizations.weight.0.lora_B"
_BLOCK_ELEMENTS = 1 << 22  # float32 scratch per merge step: 16 MB


def _merge_lora(
    weight: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    *,
    embedding: bool,
    scaling: float,
) -> None:
    """Add the low-rank update to ``weight`` in place, one block of rows at a time."""
    rows = weight.shape[0]
    step = max(1, _BLOCK_ELEMENTS // max(1, weight[0].numel()))
    for start in range(0, rows, step):
        part = slice(start, min(rows, start + step))
        delta = lora_a[part] @ lora_b if embedding else lora_b[part] @ lora_a
        weight[part] = (weight[part].float() + delta * scaling).to(weight.dtype)


def _plan(header: dict[str, Any], expected: dict[str, torch.Tensor], path: Path) -> dict[str, str]:
    """Module state key -> checkpoint key, after checking both sides match exactly."""
    plan: dict[str, str] = {}
    adapters = set()
    for key in header:
        if key.endswith(ORIGINAL):
            plan[key[: -len(ORIGINAL)] + ".weight"] = key
        elif key.endswith((LORA_A, LORA_B)):
            adapters.add(key)
        else:
            plan[key] = key
    wanted_adapters = {
        key[: -len(ORIGINAL)] + suffix
        for key in plan.values()
        if key.endswith(ORIGINAL)
        for suffix in (LORA_A, LORA_B)
    }
    missing = sorted(set(expected) - set(plan)) + sorted(wanted_adapters - adapters)
    unexpected = sorted(set(plan) - set(expected)) + sorted(adapters - wanted_adapters)
    if missing or unexpected:
        raise ModelLoadError(
            f"{path} does not match jina-clip-v2: missing keys {missing or 'none'}; "
            f"unexpected keys {unexpected or 'none'}"
        )
    return plan


def load_weights(
    model: nn.Module,
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    *,
    lora_index: int,
    lora_scaling: float,
) -> None:
    """Fill ``model`` (built on the meta device) from ``path``, merging the LoRA adapter."""
    expected = model.state_dict(keep_vars=True)
    state: dict[str, torch.Tensor] = {}
    try:
        with path.open("rb") as fh:
            header, base = read_header(fh)
            plan = _plan(header, expected, path)

            def read(key: str) -> torch.Tensor:
                return read_tensor(fh, header[key], base)

            for target, key in sorted(plan.items(), key=lambda kv: header[kv[1]]["data_offsets"]):
                want = tuple(expected[target].shape)
                if tuple(header[key]["shape"]) != want:
                    raise ModelLoadError(
                        f"{path}: {key} has shape {tuple(header[key]['shape'])}, "
                        f"config implies {want}"
                    )
                tensor = read(key)
                if tensor.dtype != dtype:
                    tensor = tensor.to(dtype)
                if key.endswith(ORIGINAL):
                    stem = key[: -len(ORIGINAL)]
                    lora_a, lora_b = read(stem + LORA_A), read(stem + LORA_B)
                    if not 0 <= lora_index < lora_a.shape[0]:
                        raise ModelLoadError(
                            f"{path}: {stem} has {lora_a.shape[0]} LoRA adapters, "
                            f"the config selects #{lora_index}"
                        )
                    module = model.get_submodule(target.removesuffix(".weight"))
                    _merge_lora(
                        tensor,
                        lora_a[lora_index].float(),
                        lora_b[lora_index].float(),
                        embedding=isinstance(module, nn.Embedding),
                        scaling=lora_scaling,
                    )
                state[target] = tensor.to(device)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot read weights from {path}: {exc}") from exc
    model.load_state_dict(state, strict=True, assign=True)
