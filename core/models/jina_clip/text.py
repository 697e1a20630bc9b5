"""JinaBERT text tower: ALiBi attention, GLU MLP, post-norm blocks, mean pooling.

Module names mirror the checkpoint keys under ``text_model.transformer.``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import TextConfig
from .encoder import FusedQkvAttention, MeanPooledText, PostNormBlock, TextEncoder
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


class AlibiSelfAttention(FusedQkvAttention):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__(cfg)
        self.slopes = alibi_slopes(cfg.num_attention_heads)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        """``key_bias``: (B, 1, 1, N) additive bias, 0 for real tokens and -10000 for padding."""
        q, k, v = self.heads(x)
        slopes = torch.tensor(self.slopes, dtype=torch.float32, device=x.device)[:, None, None]
        positions = torch.arange(x.shape[1], device=x.device)

        def bias(rows: slice) -> torch.Tensor:  # (B, A, q, N): ALiBi plus the padding
            dist = (positions[rows, None] - positions[None, :]).abs()
            return (-(slopes * dist)).to(x.dtype).unsqueeze(0) + key_bias

        return self.attend(q, k, v, bias)


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
        super().__init__(JinaBertModel(cfg))
