"""jina-clip-v2's LoRA adapters, merged as its ``model.safetensors`` is read: :class:`LoraMerge`.

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

from typing import Any

import torch
from torch import nn

from ..files import Reader, WeightPlan

__all__ = ["LoraMerge"]

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


class LoraMerge(WeightPlan):
    """The :class:`~clipbridge.models.files.WeightPlan` of jina-clip-v2: each adapted weight is
    filled from its ``...original`` with adapter ``index`` merged in (``scaling`` = alpha / rank).

    Example::

        load_weights(model, path, device, dtype, what="jina-clip-v2", plan=LoraMerge(0, 1.0))
    """

    def __init__(self, index: int, scaling: float) -> None:
        super().__init__()
        self.index = index
        self.scaling = scaling

    def keys(self, header: dict[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
        plan: dict[str, str] = {}
        adapters = set()
        for key in header:
            if key.endswith(ORIGINAL):
                plan[key[: -len(ORIGINAL)] + ".weight"] = key
            elif key.endswith((LORA_A, LORA_B)):
                adapters.add(key)
            else:
                plan[key] = key
        wanted = {
            key[: -len(ORIGINAL)] + suffix
            for key in plan.values()
            if key.endswith(ORIGINAL)
            for suffix in (LORA_A, LORA_B)
        }
        return plan, sorted(wanted - adapters), sorted(adapters - wanted)

    def finish(
        self, model: nn.Module, target: str, key: str, tensor: torch.Tensor, read: Reader
    ) -> None:
        if not key.endswith(ORIGINAL):
            return
        stem = key[: -len(ORIGINAL)]
        lora_a, lora_b = read(stem + LORA_A), read(stem + LORA_B)
        if not 0 <= self.index < lora_a.shape[0]:
            raise ValueError(  # load_weights names the file
                f"{stem} has {lora_a.shape[0]} LoRA adapters, the config selects #{self.index}"
            )
        module = model.get_submodule(target.removesuffix(".weight"))
        _merge_lora(
            tensor,
            lora_a[self.index].float(),
            lora_b[self.index].float(),
            embedding=isinstance(module, nn.Embedding),
            scaling=self.scaling,
        )
