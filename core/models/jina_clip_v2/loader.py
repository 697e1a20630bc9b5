"""Build jina-clip-v2 from a folder holding the official files, without remote code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import ModelLoadError
from ..jina_clip.loader import LoadedModel, _read_json, compute_dtype_for
from .config import BASE_MODEL, JinaClipV2Config, shipped_base_config
from .model import JinaClipV2Model
from .weights import load_weights

__all__ = ["build", "text_base_config"]


def text_base_config(name: str, *, download: bool = False, **hub: Any) -> dict[str, Any]:
    """The text tower's base config: the hub repo's own ``config.json``, else the shipped copy.

    Only that one file is fetched (``download=True``); otherwise a copy already in the local
    Hugging Face cache is used. Without either, the shipped jina-embeddings-v3 values apply.
    """
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(name, "config.json", local_files_only=not download, **hub)
        return _read_json(Path(path))
    except Exception as exc:
        if name != BASE_MODEL:
            raise ModelLoadError(
                f"the text tower's base config {name}/config.json is not available "
                f"({type(exc).__name__}); only {BASE_MODEL}'s values are shipped"
            ) from exc
        return shipped_base_config()


def build(
    folder: Path,
    config: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    *,
    base: dict[str, Any] | None = None,
) -> LoadedModel:
    """Load the checkpoint in ``folder``; ``config`` is its parsed ``config.json``."""
    from tokenizers import Tokenizer

    text_config = config.get("text_config") or {}
    if base is None:
        base = text_base_config(text_config.get("hf_model_name_or_path") or BASE_MODEL)
    try:
        cfg = JinaClipV2Config.from_dict(config, base)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc
    with torch.device("meta"):
        model = JinaClipV2Model(cfg)
    load_weights(
        model,
        folder / "model.safetensors",
        device,
        dtype,
        lora_index=cfg.text.lora_index,
        lora_scaling=cfg.text.lora_scaling,
    )
    model.eval().requires_grad_(False)
    model.fuse()
    compute = compute_dtype_for(device, dtype)
    model.set_compute_dtype(compute)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    preprocessor = _read_json(folder / "preprocessor_config.json")
    return LoadedModel(model, tokenizer, preprocessor, folder, device, dtype, compute)
