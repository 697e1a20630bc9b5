"""jina-clip-v1 hyper-parameters, read from the checkpoint's ``config.json``.

The text tower's sizes are not in jina-clip-v1's config: they live in the JinaBERT repo, so they
are hard-coded here (:data:`JINA_BERT_DEFAULTS`, their one place) and updated with
``text_config.hf_model_config_kwargs``, the same override mechanism the reference uses.
:class:`TextConfig` holds the sizes every BERT-like text tower has; jina-clip-v2's extends it.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Protocol, Self

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


def merge_text_config(base: dict[str, Any], text_config: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the text tower's own config) updated with ``text_config.hf_model_config_kwargs``,
    as the reference's ``config.update(...)``; a projection or a pooler other than the identity
    and mean pooling is refused."""
    merged = dict(base)
    merged.update(text_config.get("hf_model_config_kwargs") or {})
    if text_config.get("proj_type") not in (None, "identity"):
        raise ValueError(f"unsupported text proj_type {text_config['proj_type']!r}")
    pooler = text_config.get("pooler_type") or "mean_pooler"
    if pooler != "mean_pooler":
        raise ValueError(f"unsupported text pooler_type {pooler!r}")
    return merged


@dataclass(frozen=True)
class TextConfig:
    """A BERT-like text tower's sizes (JinaBERT in jina-clip-v1), all from its config."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_values(cls, merged: dict[str, Any], **fixed: Any) -> Self:
        """The fields found in ``merged`` (floats as floats), ``fixed`` over them; every field
        without a default must be there."""
        values = {}
        for f in fields(cls):
            if f.name in merged:
                value = merged[f.name]
                values[f.name] = float(value) if f.type == "float" else value
        values.update(fixed)
        required = {f.name for f in fields(cls) if f.default is f.default_factory is MISSING}
        if required - set(values):
            raise ValueError(f"the text tower's config lacks {sorted(required - set(values))}")
        return cls(**values)

    @classmethod
    def from_clip_text_config(cls, text_config: dict[str, Any]) -> Self:
        merged = merge_text_config(JINA_BERT_DEFAULTS, text_config)
        if merged.get("mlp_type", "glu") != "glu":
            raise ValueError(f"unsupported JinaBERT mlp_type {merged['mlp_type']!r}")
        return cls.from_values(merged)


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
        # every field but layer_norm_eps (EVA-02's own, not in the config), as its default's type
        return cls(
            **{
                f.name: type(f.default)(vc[f.name])
                for f in fields(cls)
                if f.name in vc and f.name != "layer_norm_eps"
            }
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


class TwoTowerConfig(Protocol):
    """What the code shared by jina-clip-v1 and v2 reads of either's parsed config."""

    @property
    def text(self) -> TextConfig: ...

    @property
    def vision(self) -> VisionConfig: ...

    @property
    def embed_dim(self) -> int: ...
