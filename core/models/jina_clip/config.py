"""jina-clip-v1 hyper-parameters, read from the checkpoint's ``config.json``.

The text tower's sizes are not in jina-clip-v1's config: they live in the JinaBERT repo, so they
are hard-coded here as defaults and updated with ``text_config.hf_model_config_kwargs``, the
same override mechanism the reference uses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# jinaai/jina-bert-flash-implementation config.json
JINA_BERT_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "vocab_size": 30528,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "mlp_type": "glu",
    "hidden_act": "gelu",
}


@dataclass(frozen=True)
class TextConfig:
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    vocab_size: int = 30528
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    pooler_type: str = "mean_pooler"

    @classmethod
    def from_clip_text_config(cls, text_config: dict[str, Any]) -> TextConfig:
        merged = dict(JINA_BERT_DEFAULTS)
        merged.update(text_config.get("hf_model_config_kwargs") or {})
        if merged.get("mlp_type", "glu") != "glu":
            raise ValueError(f"unsupported JinaBERT mlp_type {merged['mlp_type']!r}")
        if text_config.get("proj_type") not in (None, "identity"):
            raise ValueError(f"unsupported text proj_type {text_config['proj_type']!r}")
        pooler = text_config.get("pooler_type") or "mean_pooler"
        if pooler != "mean_pooler":
            raise ValueError(f"unsupported text pooler_type {pooler!r}")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in merged.items() if k in names}, pooler_type=pooler)


@dataclass(frozen=True)
class VisionConfig:
    width: int = 768
    layers: int = 12
    head_width: int = 64
    patch_size: int = 16
    image_size: int = 224
    mlp_ratio: float = 2.6667
    pt_hw_seq_len: int = 14
    intp_freq: bool = False
    layer_norm_eps: float = 1e-6

    @property
    def heads(self) -> int:
        return self.width // self.head_width

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def mlp_hidden(self) -> int:
        return int(self.width * self.mlp_ratio)

    @classmethod
    def from_clip_vision_config(cls, vc: dict[str, Any]) -> VisionConfig:
        unsupported = {
            "rope_embeddings": (True, vc.get("rope_embeddings", True)),
            "subln": (True, vc.get("subln", True)),
            "naive_swiglu": (True, vc.get("naive_swiglu", True)),
            "post_norm": (False, vc.get("post_norm", False)),
            "proj_type": (None, vc.get("proj_type")),
            "ls_init_value": (None, vc.get("ls_init_value")),
        }
        for name, (expected, got) in unsupported.items():
            if got != expected:
                raise ValueError(
                    f"unsupported vision_config.{name}={got!r} (expected {expected!r})"
                )
        if vc.get("use_mean_pooling") or vc.get("global_average_pool"):
            raise ValueError("unsupported vision pooling: only CLS pooling is implemented")
        return cls(
            width=int(vc.get("width", 768)),
            layers=int(vc.get("layers", 12)),
            head_width=int(vc.get("head_width", 64)),
            patch_size=int(vc.get("patch_size", 16)),
            image_size=int(vc.get("image_size", 224)),
            mlp_ratio=float(vc.get("mlp_ratio", 2.6667)),
            pt_hw_seq_len=int(vc.get("pt_hw_seq_len", 14)),
            intp_freq=bool(vc.get("intp_freq", False)),
        )


@dataclass(frozen=True)
class JinaClipConfig:
    text: TextConfig
    vision: VisionConfig
    embed_dim: int = 768
    add_projections: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JinaClipConfig:
        if data.get("model_type") not in (None, "jina_clip"):
            raise ValueError(f"not a jina-clip checkpoint (model_type={data.get('model_type')!r})")
        if data.get("add_projections"):
            raise ValueError("add_projections=true is not supported (jina-clip-v1 has none)")
        text = TextConfig.from_clip_text_config(data.get("text_config") or {})
        vision = VisionConfig.from_clip_vision_config(data.get("vision_config") or {})
        embed_dim = int(data.get("projection_dim") or text.hidden_size)
        if not text.hidden_size == vision.width == embed_dim:
            raise ValueError(
                f"tower widths differ (text {text.hidden_size}, vision {vision.width}, "
                f"embed {embed_dim}) but the config has no projections"
            )
        return cls(text=text, vision=vision, embed_dim=embed_dim)
