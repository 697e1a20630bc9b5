"""The parts jina-clip-v1's and v2's text towers share: token embeddings, post-LN blocks, the
encoder loop and mean pooling. Each tower adds its attention (ALiBi or rotary) and its MLP.

The numerics are those both towers had on their own (``tests/core/test_parity*.py`` pin them
against the reference); module names mirror the checkpoint keys.

Example::

    class MyEncoder(TextEncoder):
        def __init__(self, cfg: TextConfig) -> None:
            super().__init__(cfg, lambda: PostNormBlock(cfg, MyAttention(cfg), MyMlp(cfg)))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import TextConfig
from .layers import LayerNorm, Linear

__all__ = [
    "ATTN_BLOCK_ELEMENTS",
    "PAD_BIAS",
    "Embeddings",
    "FusedQkvAttention",
    "MeanPooledText",
    "PostNormBlock",
    "TextEncoder",
]

PAD_BIAS = -10000.0  # the reference's additive mask value for padded keys
ATTN_BLOCK_ELEMENTS = 1 << 25  # ~32M bias entries per query block (128 MB in fp32)


class Embeddings(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # token_type_ids are never passed: row 0 is added to every token. No position table.
        return self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]


class FusedQkvAttention(nn.Module):
    """Self-attention with one ``Wqkv`` projection and ``out_proj``. A subclass's ``forward``
    splits the heads (:meth:`heads`), positions q and k its own way and calls :meth:`attend`
    with the additive bias of any rows of queries."""

    # False: all queries at once, one whole bias and no Python arithmetic on the shape, so an
    # ONNX export keeps batch and length dynamic (the block size would fix them to the example's).
    query_blocks = True

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.head_dim = cfg.head_dim
        self.Wqkv = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v of ``x`` (B, N, W), each (B, A, N, D)."""
        batch, n, _ = x.shape
        qkv = self.Wqkv(x).view(batch, n, 3, self.num_heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        bias: Callable[[slice], torch.Tensor],
    ) -> torch.Tensor:
        """Attention of all queries, projected; ``bias(rows)`` is the additive bias (B, A, q, N)
        of the queries in ``rows``. Long inputs run one block of queries at a time, so their
        scores and bias never exist for all queries at once."""
        batch, heads, n, _ = q.shape
        if not self.query_blocks:
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias(slice(None)))
        else:
            block = max(16, ATTN_BLOCK_ELEMENTS // max(1, batch * heads * n))
            rows = [slice(start, start + block) for start in range(0, n, block)]
            sdpa = F.scaled_dot_product_attention
            outs = [sdpa(q[:, :, r], k, v, attn_mask=bias(r)) for r in rows]
            ctx = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        return self.out_proj(ctx.transpose(1, 2).flatten(2))


class PostNormBlock(nn.Module):
    """``x = norm1(x + mixer(x)); x = norm2(x + mlp(x))``; ``mixer`` gets the key bias and any
    per-forward context (v2: the rotary tables)."""

    def __init__(self, cfg: TextConfig, mixer: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.mixer = mixer
        self.norm1 = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = mlp
        self.norm2 = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor, *context: Any) -> torch.Tensor:
        # Residual sums land in the fresh branch outputs (a + b == b + a, bit for bit).
        x = self.norm1(self.mixer(x, key_bias, *context).add_(x))
        return self.norm2(self.mlp(x).add_(x))


class Encoder(nn.Module):
    def __init__(self, cfg: TextConfig, block: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(block() for _ in range(cfg.num_hidden_layers))


class TextEncoder(nn.Module):
    """Embeddings, their LayerNorm and the blocks; ``forward`` returns the last hidden state
    (B, T, hidden). A subclass passes its block and may give every block a :meth:`context`."""

    def __init__(self, cfg: TextConfig, block: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.emb_ln = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.encoder = Encoder(cfg, block)
        self.compute_dtype: torch.dtype | None = None  # None: the weights' dtype

    def context(self, input_ids: torch.Tensor, x: torch.Tensor) -> tuple[Any, ...]:
        """What every block's mixer gets after the key bias (none by default)."""
        return ()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        x = self.emb_ln(x.to(self.compute_dtype or x.dtype))
        key_bias = ((1.0 - attention_mask.to(x.dtype)) * PAD_BIAS)[:, None, None, :]
        context = self.context(input_ids, x)
        for layer in self.encoder.layers:
            x = layer(x, key_bias, *context)
        return x


class MeanPooledText(nn.Module):
    """``text_model``: ``transformer`` (the checkpoint's name) holding the encoder at
    :attr:`encoder_path`, + mean pooling over the non-padding tokens (special tokens included)."""

    encoder_path = ""  # the encoder's place under ``transformer`` ("": the transformer itself)

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    @property
    def encoder(self) -> TextEncoder:
        return cast(TextEncoder, self.transformer.get_submodule(self.encoder_path))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = input_ids != self.encoder.config.pad_token_id
        hidden = self.encoder(input_ids, mask)
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1)
