"""The model families clipbridge runs locally, chosen once from the checkpoint's ``config.json``.

A family is picked by what the checkpoint says it is (``model_type`` and the text tower's base
model), never by the name the user typed, so a renamed folder or a fine-tune loads the same way.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelLoadError
from .base import ModelFamily

__all__ = ["FAMILIES", "family_for"]

_JINA_FILES = ("model.safetensors", "tokenizer.json", "preprocessor_config.json")


def _text_base(config: dict[str, Any]) -> str:
    text = config.get("text_config") or {}
    return str(text.get("hf_model_name_or_path") or "")


def _is_jina_clip_v1(config: dict[str, Any]) -> bool:
    return config.get("model_type") == "jina_clip" and "jina-bert" in _text_base(config)


def _is_jina_clip_v2(config: dict[str, Any]) -> bool:
    # The text tower is Jina-XLM-RoBERTa, named by its base model (jinaai/jina-embeddings-v3).
    base = _text_base(config)
    return config.get("model_type") == "jina_clip" and (
        "jina-embeddings-v3" in base or "xlm-roberta" in base
    )


FAMILIES: list[ModelFamily] = [
    ModelFamily(
        name="jina-clip-v1",
        files=_JINA_FILES,
        matches=_is_jina_clip_v1,
        builder="clipbridge.models.jina_clip.loader:build",
        describer="clipbridge.models.jina_clip.info:describe",
    ),
    ModelFamily(
        name="jina-clip-v2",
        files=_JINA_FILES,
        matches=_is_jina_clip_v2,
        builder="clipbridge.models.jina_clip_v2.loader:build",
        describer="clipbridge.models.jina_clip_v2.info:describe",
    ),
    ModelFamily(
        name="clip",  # transformers' CLIPModel (openai/clip-vit-*, ...)
        files=("model.safetensors", "tokenizer.json", "preprocessor_config.json"),
        matches=lambda config: config.get("model_type") == "clip",
        builder="clipbridge.models.hf_clip.loader:build",
    ),
    ModelFamily(
        name="siglip",  # transformers' SiglipModel (google/siglip-*)
        files=(
            "model.safetensors",
            "spiece.model",
            "tokenizer_config.json",
            "preprocessor_config.json",
        ),
        matches=lambda config: config.get("model_type") == "siglip",
        builder="clipbridge.models.hf_clip.siglip:build",
    ),
]


def family_for(config: dict[str, Any], where: str = "config.json") -> ModelFamily:
    """The family whose ``matches`` accepts ``config``; a clear error listing them otherwise."""
    for family in FAMILIES:
        if family.matches(config):
            return family
    kind = config.get("model_type") or "no model_type"
    base = _text_base(config)
    tower = f" (text tower {base})" if base else ""
    raise ModelLoadError(
        f"{where} describes a {kind} model{tower}, which clipbridge cannot run locally; "
        f"supported: {', '.join(f.name for f in FAMILIES)}"
    )
