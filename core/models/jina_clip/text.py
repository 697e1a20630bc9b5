"""JinaBERT text tower: ALiBi attention, GLU MLP, post-norm blocks, mean pooling.

Module names mirror the checkpoint keys under ``text_model.transformer.``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import TextConfig
from .layers import LayerNorm, Linear

PAD_BIAS = -10000.0  # the reference's additive mask value for padded keys
ATTN_BLOCK_ELEMENTS = 1 << 25  # ~32M bias entries per query block (128 MB in fp32)


def alibi_slopes(num_heads: int) -> list[float]:
    """Press et al.'s ALiBi slopes, including the rule for a non-power-of-two head count."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]


class Embeddings(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # token_type_ids are never passed: row 0 is added to every token. No position embeddings.
        return self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]


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


class Block(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.mixer = AlibiSelfAttention(cfg)
        self.norm1 = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = GluMLP(cfg)
        self.norm2 = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        # Residual sums land in the fresh branch outputs (a + b == b + a, bit for bit).
        x = self.norm1(self.mixer(x, key_bias).add_(x))
        return self.norm2(self.mlp(x).add_(x))


class Encoder(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))


class JinaBertModel(nn.Module):
    """The JinaBERT encoder; ``forward`` returns the last hidden state (B, N, H)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.emb_ln = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.encoder = Encoder(cfg)
        self.compute_dtype: torch.dtype | None = None  # None: the weights' dtype

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        x = self.emb_ln(x.to(self.compute_dtype or x.dtype))
        key_bias = ((1.0 - attention_mask.to(x.dtype)) * PAD_BIAS)[:, None, None, :]
        for layer in self.encoder.layers:
            x = layer(x, key_bias)
        return x


class TextTower(nn.Module):
    """``text_model``: JinaBERT + mean pooling over non-padding tokens (CLS and SEP included)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.transformer = JinaBertModel(cfg)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = input_ids != self.transformer.config.pad_token_id
        hidden = self.transformer(input_ids, mask)
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1)
