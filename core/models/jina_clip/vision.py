"""EVA-02 vision tower: 2-D RoPE, sub-LN attention and SwiGLU, CLS pooling.

Module names mirror the checkpoint keys under ``vision_model.``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import VisionConfig

ROPE_THETA = 10000.0


def rope_tables(cfg: VisionConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (grid*grid, head_width) for EVA-02's interleaved 2-D rotary embedding.

    The first half of each head rotates with the patch row, the second half with the column;
    within a half, frequency k drives the adjacent pair (2k, 2k+1).
    """
    half = cfg.head_width // 2
    freqs = ROPE_THETA ** -(torch.arange(0, half, 2, dtype=torch.float32)[: half // 2] / half)
    pt = cfg.pt_hw_seq_len
    ft = cfg.grid if cfg.intp_freq else pt
    if ft != cfg.grid:
        raise ValueError(
            f"RoPE table covers {ft}x{ft} positions but the patch grid is {cfg.grid}x{cfg.grid}"
        )
    t = torch.arange(ft, dtype=torch.float32) / ft * pt
    angles = torch.repeat_interleave(torch.outer(t, freqs), 2, dim=-1)  # (ft, half)
    rows = angles[:, None, :].expand(ft, ft, half)
    cols = angles[None, :, :].expand(ft, ft, half)
    table = torch.cat([rows, cols], dim=-1).reshape(ft * ft, 2 * half)
    return table.cos().to(device), table.sin().to(device)


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the patch tokens of ``x`` (B, A, 1 + P, D); the CLS token is left alone."""
    cls, patches = x[:, :, :1], x[:, :, 1:].float()
    rotated = patches * cos + _rotate_pairs(patches) * sin
    return torch.cat((cls, rotated.to(x.dtype)), dim=2)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in the input dtype (eps 1e-6 in the vision tower)."""


class PatchEmbed(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels).flatten(2).transpose(1, 2)  # (B, P, W), row-major patches


class Attention(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        w = cfg.width
        self.num_heads = cfg.heads
        self.q_proj = nn.Linear(w, w, bias=False)
        self.k_proj = nn.Linear(w, w, bias=False)
        self.v_proj = nn.Linear(w, w, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(w))
        self.v_bias = nn.Parameter(torch.zeros(w))
        self.inner_attn_ln = LayerNorm(w, eps=cfg.layer_norm_eps)
        self.proj = nn.Linear(w, w)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, n, width = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, n, self.num_heads, -1).transpose(1, 2)

        q = heads(F.linear(x, self.q_proj.weight, self.q_bias))
        k = heads(F.linear(x, self.k_proj.weight))  # k has no bias
        v = heads(F.linear(x, self.v_proj.weight, self.v_bias))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, n, width)
        return self.proj(self.inner_attn_ln(out))


class SwiGLU(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.width, cfg.mlp_hidden)
        self.w2 = nn.Linear(cfg.width, cfg.mlp_hidden)
        self.ffn_ln = LayerNorm(cfg.mlp_hidden, eps=cfg.layer_norm_eps)
        self.w3 = nn.Linear(cfg.mlp_hidden, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class Block(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class VisionTower(nn.Module):
    """``vision_model``: (B, 3, S, S) pixels -> raw CLS embedding (B, W)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.config = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self._rope: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def rope(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._rope:
            self._rope[device] = rope_tables(self.config, device)
        return self._rope[device]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if pixels.shape[-2:] != (size, size):
            raise ValueError(f"expected {size}x{size} pixels, got {tuple(pixels.shape[-2:])}")
        x = self.patch_embed(pixels)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        cos, sin = self.rope(x.device)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x)[:, 0]
