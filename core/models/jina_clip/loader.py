"""Build jina-clip-v1 from its folder, without remote code (the family's builder).

The checkpoint is read tensor by tensor onto a meta-device model (:func:`load_weights`), the
vision projections are fused and the compute dtype chosen for the device: :func:`ready`, which
jina-clip-v2's builder uses too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..base import LoadedModel, ModelInfo
from ..files import WeightPlan, compute_dtype_for, load_weights
from .info import describe, parse_config
from .model import JinaClipModel, TwoTowerModel

__all__ = ["build", "ready"]

_IGNORED_PREFIXES = ("text_model.transformer.pooler.",)


def ready(
    model: TwoTowerModel,
    info: ModelInfo,
    device: torch.device,
    dtype: torch.dtype,
    plan: WeightPlan,
) -> LoadedModel:
    """``model`` (built on the meta device) filled from ``info.folder``'s weights through
    ``plan``, fused, set to the device's compute dtype and joined with ``info``."""
    path = info.folder / "model.safetensors"
    load_weights(model, path, device, dtype, what=info.family, plan=plan)
    model.eval().requires_grad_(False)
    model.fuse()
    compute = compute_dtype_for(device, dtype)
    model.set_compute_dtype(compute)
    return LoadedModel(
        model=model, device=device, dtype=dtype, compute_dtype=compute, **info.fields()
    )


def build(
    folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """A ready jina-clip-v1 from ``folder`` (``config`` is its parsed ``config.json``)."""
    parsed = parse_config(folder, config)
    with torch.device("meta"):
        model = JinaClipModel(parsed)
    info = describe(folder, config, parsed)
    return ready(model, info, device, dtype, WeightPlan(ignored=_IGNORED_PREFIXES))
