"""Build jina-clip-v1 from its folder, without remote code (the family's builder).

The checkpoint is read tensor by tensor onto a meta-device model (:func:`load_weights`), the
vision projections are fused and the compute dtype chosen for the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import ModelLoadError
from ..base import LoadedModel
from ..files import compute_dtype_for, load_weights, read_json
from .config import JinaClipConfig
from .model import JinaClipModel

__all__ = ["build"]

_IGNORED_PREFIXES = ("text_model.transformer.pooler.",)


def build(
    folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """A ready jina-clip-v1 from ``folder`` (``config`` is its parsed ``config.json``)."""
    from tokenizers import Tokenizer

    try:
        parsed = JinaClipConfig.from_dict(config)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc
    with torch.device("meta"):
        model = JinaClipModel(parsed)
    load_weights(
        model,
        folder / "model.safetensors",
        device,
        dtype,
        what="jina-clip-v1",
        ignored_prefixes=_IGNORED_PREFIXES,
    )
    model.eval().requires_grad_(False)
    model.fuse()
    compute = compute_dtype_for(device, dtype)
    model.set_compute_dtype(compute)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        preprocessor=read_json(folder / "preprocessor_config.json"),
        folder=folder,
        device=device,
        dtype=dtype,
        compute_dtype=compute,
        family="jina-clip-v1",
        dimension=parsed.embed_dim,
        pad_token_id=parsed.text.pad_token_id,
    )
