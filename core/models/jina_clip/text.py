"""JinaBERT text tower: ALiBi attention, GLU MLP, post-norm blocks, mean pooling.

Module names mirror the checkpoint keys under ``text_model.transformer.``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import TextConfig
from .encoder import ATTN_BLOCK_ELEMENTS, MeanPooledText, PostNormBlock, TextEncoder
from .layers import Linear


def alibi_slopes(num_heads: int) -> list[float]:
    """Press et al.'s ALiBi slopes, including the rule for a non-power-of-two head count."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]


class AlibiSelfAttention(nn.Module):
    # False: one whole (B, A, N, N) bias and no Python arithmetic on the shape, so an ONNX export
    # keeps batch and length dynamic (the block size below would fix them to the example's).
    query_blocks = True

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.head_dim = cfg.head_dim
        self.Wqkv = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out_proj = Linear(cfg.hidden_size, cfg.hidden_size)
        self.slopes = alibi_slopes(cfg.num_attention_heads)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        """``key_bias``: (B, 1, 1, N) additive bias, 0 for real tokens and -10000 for padding."""
        batch, n, width = x.shape
        qkv = self.Wqkv(x).view(batch, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, A, N, D)
        slopes = torch.tensor(self.slopes, dtype=torch.float32, device=x.device)[:, None, None]
        positions = torch.arange(n, device=x.device)
        if not self.query_blocks:
            dist = (positions[:, None] - positions[None, :]).abs()
            bias = (-(slopes * dist)).to(x.dtype).unsqueeze(0) + key_bias  # (B, A, N, N)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            return self.out_proj(ctx.transpose(1, 2).reshape(batch, n, width))
        # Build the (A, q, N) ALiBi bias one query block at a time so long inputs never
        # materialize a full (B, A, N, N) tensor.
        block = max(16, ATTN_BLOCK_ELEMENTS // max(1, batch * self.num_heads * n))
        if block >= n:
            block = n
        outs = []
        for start in range(0, n, block):
            stop = min(n, start + block)
            dist = (positions[start:stop, None] - positions[None, :]).abs()
            bias = (-(slopes * dist)).to(x.dtype).unsqueeze(0) + key_bias  # (B, A, q, N)
            outs.append(F.scaled_dot_product_attention(q[:, :, start:stop], k, v, attn_mask=bias))
        ctx = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        return self.out_proj(ctx.transpose(1, 2).reshape(batch, n, width))


class GluMLP(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.intermediate = cfg.intermediate_size
        self.gated_layers = Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.wo = Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gated_layers(x)
        gate, up = h[..., : self.intermediate], h[..., self.intermediate :]
        return self.wo(F.gelu(gate).mul_(up))  # in place: one buffer less


class JinaBertModel(TextEncoder):
    """The JinaBERT encoder; ``forward`` returns the last hidden state (B, N, H)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__(cfg, lambda: PostNormBlock(cfg, AlibiSelfAttention(cfg), GluMLP(cfg)))


class TextTower(MeanPooledText):
    """``text_model``: JinaBERT + mean pooling over non-padding tokens (CLS and SEP included)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.transformer = JinaBertModel(cfg)

    @property
    def encoder(self) -> JinaBertModel:
        return self.transformer
