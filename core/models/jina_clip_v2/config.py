"""jina-clip-v2 hyper-parameters, read from the checkpoint's ``config.json``.

The text tower's architecture is not in jina-clip-v2's config: it names a base model
(``text_config.hf_model_name_or_path``, ``jinaai/jina-embeddings-v3``) whose own ``config.json``
holds the sizes, and ``text_config.hf_model_config_kwargs`` is applied on top of it, as the
reference does with ``config.update(...)``. The vision tower is EVA-02, configured like v1's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..jina_clip.config import TextConfig, VisionConfig, merge_text_config

__all__ = [
    "BASE_MODEL",
    "JinaClipV2Config",
    "XlmRobertaConfig",
    "shipped_base_config",
]

BASE_MODEL = "jinaai/jina-embeddings-v3"
_SHIPPED_BASE = "jina-embeddings-v3-config.json"


def shipped_base_config() -> dict[str, Any]:
    """The real ``jinaai/jina-embeddings-v3`` ``config.json``, shipped as package data."""
    text = resources.files(__package__).joinpath(_SHIPPED_BASE).read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class XlmRobertaConfig(TextConfig):
    """Jina-XLM-RoBERTa (rotary positions, post-LN) with its LoRA adapters.

    The sizes come from the base model's config; the defaults below are the reference's own for
    keys a base config may leave out.
    """

    lora_task: str  # the adapter applied to every text (default_lora_task)
    lora_adaptations: tuple[str, ...]
    rotary_emb_base: float = 10000.0
    max_position_embeddings: int = 8194
    lora_rank: int = 4
    lora_alpha: float = 1.0
    task_instructions: dict[str, str] = field(default_factory=dict)

    @property
    def lora_scaling(self) -> float:
        return self.lora_alpha / self.lora_rank

    @property
    def lora_index(self) -> int:
        return self.lora_adaptations.index(self.lora_task)

    @classmethod
    def from_clip_text_config(  # type: ignore[override]
        cls, text_config: dict[str, Any], base: dict[str, Any]
    ) -> XlmRobertaConfig:
        """``base`` (the base model's config.json) updated with ``hf_model_config_kwargs``."""
        merged = merge_text_config(base, text_config)
        expected = {
            "position_embedding_type": "rotary",
            "hidden_act": "gelu",
            "rotary_emb_interleaved": False,
            "rotary_emb_scale_base": None,
            "emb_pooler": None,
            "last_layer_subset": False,
        }
        for name, want in expected.items():
            if merged.get(name, want) != want:
                raise ValueError(
                    f"unsupported text-tower {name}={merged[name]!r} (expected {want!r})"
                )
        adaptations = tuple(merged.get("lora_adaptations") or ())
        task = text_config.get("default_lora_task") or (adaptations[0] if adaptations else "")
        if task not in adaptations:
            raise ValueError(f"default_lora_task {task!r} is not one of {list(adaptations)}")
        config = cls.from_values(
            merged,
            lora_task=task,
            lora_adaptations=adaptations,
            task_instructions=dict(merged.get("task_instructions") or {}),
        )
        if merged.get("rotary_emb_dim") not in (None, config.head_dim):
            raise ValueError(
                f"unsupported rotary_emb_dim={merged['rotary_emb_dim']!r} "
                f"(expected {config.head_dim})"
            )
        return config


@dataclass(frozen=True)
class JinaClipV2Config:
    text: XlmRobertaConfig
    vision: VisionConfig
    embed_dim: int = 1024
    matryoshka_dimensions: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: dict[str, Any]) -> JinaClipV2Config:
        """``data``: the checkpoint's config.json; ``base``: the text tower's base config."""
        if data.get("model_type") not in (None, "jina_clip"):
            raise ValueError(f"not a jina-clip checkpoint (model_type={data.get('model_type')!r})")
        if data.get("add_projections"):
            raise ValueError("add_projections=true is not supported (jina-clip-v2 has none)")
        text_cfg = data.get("text_config") or {}
        vision_cfg = data.get("vision_config") or {}
        text = XlmRobertaConfig.from_clip_text_config(text_cfg, base)
        vision = VisionConfig.from_clip_vision_config(vision_cfg)
        embed_dim = int(text_cfg.get("embed_dim") or text.hidden_size)
        widths = {
            "text hidden": text.hidden_size,
            "text embed_dim": embed_dim,
            "vision width": vision.width,
            "vision embed_dim": int(vision_cfg.get("embed_dim") or vision.width),
        }
        if len(set(widths.values())) != 1:
            raise ValueError(f"tower widths differ ({widths}) but the config has no projections")
        return cls(
            text=text,
            vision=vision,
            embed_dim=embed_dim,
            matryoshka_dimensions=tuple(int(k) for k in data.get("matryoshka_dimensions") or ()),
        )
