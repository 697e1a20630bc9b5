"""Build jina-clip-v1 from its folder, without remote code (the family's builder).

The checkpoint is read tensor by tensor onto a meta-device model (:func:`load_weights`), the
vision projections are fused and the compute dtype chosen for the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..base import LoadedModel
from ..files import WeightPlan, compute_dtype_for, load_weights
from .info import describe, parse_config
from .model import JinaClipModel

__all__ = ["build"]

_IGNORED_PREFIXES = ("text_model.transformer.pooler.",)


def build(
    folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """A ready jina-clip-v1 from ``folder`` (``config`` is its parsed ``config.json``)."""
    parsed = parse_config(folder, config)
    with torch.device("meta"):
        model = JinaClipModel(parsed)
    load_weights(
        model,
        folder / "model.safetensors",
        device,
        dtype,
        what="jina-clip-v1",
        plan=WeightPlan(ignored=_IGNORED_PREFIXES),
    )
    model.eval().requires_grad_(False)
    model.fuse()
    compute = compute_dtype_for(device, dtype)
    model.set_compute_dtype(compute)
    info = describe(folder, config, parsed)
    return LoadedModel(
        model=model, device=device, dtype=dtype, compute_dtype=compute, **info.fields()
    )
