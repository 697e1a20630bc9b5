"""jina-clip-v2 hyper-parameters, read from the checkpoint's ``config.json``.

The text tower's architecture is not in jina-clip-v2's config: it names a base model
(``text_config.hf_model_name_or_path``, ``jinaai/jina-embeddings-v3``) whose own ``config.json``
holds the sizes, and ``text_config.hf_model_config_kwargs`` is applied on top of it, as the
reference does with ``config.update(...)``. The vision tower is EVA-02, configured like v1's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Any

from ..jina_clip.config import VisionConfig

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
class XlmRobertaConfig:
    """Jina-XLM-RoBERTa (rotary positions, post-LN) with its LoRA adapters."""

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    vocab_size: int = 250002
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1
    rotary_emb_base: float = 20000.0
    max_position_embeddings: int = 8194
    lora_adaptations: tuple[str, ...] = ("retrieval.query",)
    lora_rank: int = 4
    lora_alpha: float = 4.0
    lora_task: str = "retrieval.query"  # the adapter applied to every text (default_lora_task)
    task_instructions: dict[str, str] = field(default_factory=dict)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def lora_scaling(self) -> float:
        return self.lora_alpha / self.lora_rank

    @property
    def lora_index(self) -> int:
        return self.lora_adaptations.index(self.lora_task)

    @classmethod
    def from_clip_text_config(
        cls, text_config: dict[str, Any], base: dict[str, Any]
    ) -> XlmRobertaConfig:
        """``base`` (the base model's config.json) updated with ``hf_model_config_kwargs``."""
        merged = dict(base)
        merged.update(text_config.get("hf_model_config_kwargs") or {})
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
        heads = int(merged.get("num_attention_heads", 16))
        head_dim = int(merged.get("hidden_size", 1024)) // heads
        if merged.get("rotary_emb_dim") not in (None, head_dim):
            raise ValueError(
                f"unsupported rotary_emb_dim={merged['rotary_emb_dim']!r} (expected {head_dim})"
            )
        if text_config.get("proj_type") not in (None, "identity"):
            raise ValueError(f"unsupported text proj_type {text_config['proj_type']!r}")
        pooler = text_config.get("pooler_type") or "mean_pooler"
        if pooler != "mean_pooler":
            raise ValueError(f"unsupported text pooler_type {pooler!r}")
        adaptations = tuple(merged.get("lora_adaptations") or ())
        task = text_config.get("default_lora_task") or (adaptations[0] if adaptations else "")
        if task not in adaptations:
            raise ValueError(f"default_lora_task {task!r} is not one of {list(adaptations)}")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in merged.items() if k in names}
        values["lora_adaptations"] = adaptations
        values["task_instructions"] = dict(merged.get("task_instructions") or {})
        values["lora_alpha"] = float(merged.get("lora_alpha", 1.0))
        values["rotary_emb_base"] = float(merged.get("rotary_emb_base", 10000.0))
        return cls(**values, lora_task=task)


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
