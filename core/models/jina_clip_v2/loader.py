"""Build jina-clip-v2 from its folder, without remote code (the family's builder).

The text tower's sizes come from its base model's ``config.json`` (:func:`text_base_config`),
the checkpoint is read tensor by tensor with the LoRA adapter merged (:mod:`.lora`), and the
query instruction is handed to the backend as ``task_instructions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..base import LoadedModel
from ..jina_clip.loader import ready
from .info import describe, hub_cache_dir, load_tokenizer, parse_config, text_base_config
from .lora import LoraMerge
from .model import JinaClipV2Model

__all__ = ["build", "hub_cache_dir", "load_tokenizer", "text_base_config"]


def build(
    folder: Path,
    config: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    *,
    base: dict[str, Any] | None = None,
) -> LoadedModel:
    """A ready jina-clip-v2 from ``folder`` (``config`` is its parsed ``config.json``).

    ``base`` overrides the text tower's base config (default: :func:`text_base_config`).
    """
    parsed = parse_config(folder, config, base)
    with torch.device("meta"):
        model = JinaClipV2Model(parsed)
    info = describe(folder, config, parsed)
    plan = LoraMerge(parsed.text.lora_index, parsed.text.lora_scaling)
    return ready(model, info, device, dtype, plan)
