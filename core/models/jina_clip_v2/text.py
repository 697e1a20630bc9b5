"""Jina-XLM-RoBERTa text tower: rotary attention, post-LN blocks, GELU MLP, mean pooling.

Module names mirror the checkpoint keys under ``text_model.transformer.roberta.``; the LoRA
adapter is merged into ``weight`` at load time (:mod:`.lora`), so at run time these are
plain layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..jina_clip.encoder import FusedQkvAttention, MeanPooledText, PostNormBlock, TextEncoder
from ..jina_clip.layers import Linear
from .config import XlmRobertaConfig


def rotary_tables(
    length: int, head_dim: int, base: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (length, head_dim // 2) for positions 0..length-1, in float32.

    ``inv_freq[i] = 1 / base^(2i/d)`` and the angles are computed as the reference does, so the
    tables are bit-identical to its (never loaded: they are not in the checkpoint).
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos().to(device), angles.sin().to(device)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """GPT-NeoX "rotate half" on ``x`` (B, H, T, d): ``x*[cos|cos] + [-x2|x1]*[sin|sin]``."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.to(x.dtype)


class RotarySelfAttention(FusedQkvAttention):
    def forward(
        self, x: torch.Tensor, key_bias: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """``key_bias``: (B, 1, 1, T) additive, 0 for real tokens and -10000 for padding."""
        q, k, v = self.heads(x)
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        return self.attend(q, k, v, lambda rows: key_bias)


class Mlp(nn.Module):
    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__()
        self.fc1 = Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class XlmRobertaModel(TextEncoder):
    """The encoder; ``forward`` returns the last hidden state (B, T, hidden)."""

    config: XlmRobertaConfig

    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__(cfg, lambda: PostNormBlock(cfg, RotarySelfAttention(cfg), Mlp(cfg)))

    def context(
        self, input_ids: torch.Tensor, x: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor]]:
        # Positions are column indices 0..T-1 (right padding keeps every real token's position).
        length = input_ids.shape[1]
        return (rotary_tables(length, self.config.head_dim, self.config.rotary_emb_base, x.device),)


class _Transformer(nn.Module):
    """``text_model.transformer``: the reference's LoRA wrapper, holding ``roberta``."""

    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__()
        self.roberta = XlmRobertaModel(cfg)


class TextTower(MeanPooledText):
    """``text_model``: XLM-RoBERTa + mean pooling over non-padding tokens (``<s>``/``</s>`` too)."""

    encoder_path = "roberta"

    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__(_Transformer(cfg))
