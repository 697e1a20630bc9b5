"""Jina-XLM-RoBERTa text tower: rotary attention, post-LN blocks, GELU MLP, mean pooling.

Module names mirror the checkpoint keys under ``text_model.transformer.roberta.``; the LoRA
adapter is merged into ``weight`` at load time (:mod:`.lora`), so at run time these are
plain layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..jina_clip.encoder import ATTN_BLOCK_ELEMENTS, MeanPooledText, PostNormBlock, TextEncoder
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


class RotarySelfAttention(nn.Module):
    # False: all queries at once, no Python arithmetic on the shape (for an ONNX export with
    # dynamic batch and length; the block size below would fix them to the example's).
    query_blocks = True

    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.head_dim = cfg.head_dim
        self.Wqkv = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(
        self, x: torch.Tensor, key_bias: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """``key_bias``: (B, 1, 1, T) additive, 0 for real tokens and -10000 for padding."""
        batch, n, width = x.shape
        qkv = self.Wqkv(x).view(batch, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, d)
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if not self.query_blocks:
            ctx = F.scaled_dot_product_attention(q, k, v, key_bias)
            return self.out_proj(ctx.transpose(1, 2).reshape(batch, n, width))
        # Query blocks bound the (B, H, q, T) scores of long inputs, as in the v1 tower.
        block = max(16, ATTN_BLOCK_ELEMENTS // max(1, batch * self.num_heads * n))
        outs = [
            F.scaled_dot_product_attention(q[:, :, start : start + block], k, v, key_bias)
            for start in range(0, n, block)
        ]
        ctx = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        return self.out_proj(ctx.transpose(1, 2).reshape(batch, n, width))


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

    def __init__(self, cfg: XlmRobertaConfig) -> None:
        super().__init__()
        self.transformer = _Transformer(cfg)

    @property
    def encoder(self) -> XlmRobertaModel:
        return self.transformer.roberta
