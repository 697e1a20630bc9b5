"""EVA-02 vision tower: 2-D RoPE, sub-LN attention and SwiGLU, CLS pooling.

Module names mirror the checkpoint keys under ``vision_model.``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import VisionConfig
from .layers import Conv2d, LayerNorm, Linear

ROPE_THETA = 10000.0


def rope_tables(cfg: VisionConfig, device: torch.device) -> torch.Tensor:
    """Rotations (1 + grid*grid, head_width // 2) as complex numbers for EVA-02's 2-D RoPE.

    The first half of each head rotates with the patch row, the second half with the column;
    within a half, frequency k drives the adjacent pair (2k, 2k+1). Row 0 is the CLS token, which
    is not rotated (angle 0: an exact identity).
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
    angles = torch.outer(t, freqs)  # (ft, half // 2): one angle per pair
    rows = angles[:, None, :].expand(ft, ft, half // 2)
    cols = angles[None, :, :].expand(ft, ft, half // 2)
    table = torch.cat([rows, cols], dim=-1).reshape(ft * ft, half)
    table = torch.cat([torch.zeros(1, half), table])  # the CLS token: no rotation
    return torch.polar(torch.ones_like(table), table).to(device)


def apply_rope(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate each adjacent pair of ``x`` (B, A, 1 + P, D) by ``rotation`` (1 + P, D // 2).

    A pair (a, b) times cos + i sin is (a cos - b sin, b cos + a sin): the reference's
    ``x * cos + rotate_half(x) * sin`` in one complex multiply, computed in float32.
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.proj = Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels).flatten(2).transpose(1, 2)  # (B, P, W), row-major patches


class Attention(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        w = cfg.width
        self.num_heads = cfg.heads
        self.q_proj = Linear(w, w, bias=False)
        self.k_proj = Linear(w, w, bias=False)
        self.v_proj = Linear(w, w, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(w))
        self.v_bias = nn.Parameter(torch.zeros(w))
        self.inner_attn_ln = LayerNorm(w, eps=cfg.layer_norm_eps)
        self.proj = Linear(w, w)

        self._qkv: tuple[torch.Tensor, torch.Tensor] | None = None

    def fuse(self) -> None:
        """Run q, k, v as one GEMM: the three weights become views of one (3W, W) tensor."""
        w = self.q_proj.weight
        weight = torch.cat([w, self.k_proj.weight, self.v_proj.weight])
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        width = w.shape[0]
        for i, layer in enumerate((self.q_proj, self.k_proj, self.v_proj)):
            layer.weight = nn.Parameter(weight[i * width : (i + 1) * width], requires_grad=False)
        self._qkv = (weight, bias)

    def forward(self, x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        batch, n, width = x.shape
        if self._qkv is not None:
            qkv = F.linear(x, *(t.to(x.dtype) for t in self._qkv))
        else:  # k has no bias
            qkv = torch.cat(
                [
                    F.linear(x, self.q_proj.weight.to(x.dtype), self.q_bias.to(x.dtype)),
                    F.linear(x, self.k_proj.weight.to(x.dtype)),
                    F.linear(x, self.v_proj.weight.to(x.dtype), self.v_bias.to(x.dtype)),
                ],
                dim=-1,
            )
        q, k, v = qkv.view(batch, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = apply_rope(q, rotation), apply_rope(k, rotation)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, n, width)
        return self.proj(self.inner_attn_ln(out))


class SwiGLU(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.w1 = Linear(cfg.width, cfg.mlp_hidden)
        self.w2 = Linear(cfg.width, cfg.mlp_hidden)
        self.ffn_ln = LayerNorm(cfg.mlp_hidden, eps=cfg.layer_norm_eps)
        self.w3 = Linear(cfg.mlp_hidden, cfg.width)
        self._w12: tuple[torch.Tensor, torch.Tensor] | None = None

    def fuse(self) -> None:
        """Run w1 and w2 as one GEMM: their weights become views of one (2H, W) tensor."""
        weight = torch.cat([self.w1.weight, self.w2.weight])
        bias = torch.cat([self.w1.bias, self.w2.bias])
        hidden = self.w1.weight.shape[0]
        for i, layer in enumerate((self.w1, self.w2)):
            part = slice(i * hidden, (i + 1) * hidden)
            layer.weight = nn.Parameter(weight[part], requires_grad=False)
            layer.bias = nn.Parameter(bias[part], requires_grad=False)
        self._w12 = (weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._w12 is None:
            gate, up = self.w1(x), self.w2(x)
        else:
            gate, up = F.linear(x, *(t.to(x.dtype) for t in self._w12)).chunk(2, dim=-1)
        return self.w3(self.ffn_ln(F.silu(gate).mul_(up)))  # in place: one buffer less


class Block(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        # Residual sums land in the fresh branch outputs (a + b == b + a, bit for bit).
        x = self.attn(self.norm1(x), rotation).add_(x)
        return self.mlp(self.norm2(x)).add_(x)


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
        self._rope: dict[torch.device, torch.Tensor] = {}
        self.compute_dtype: torch.dtype | None = None  # None: the weights' dtype

    def fuse(self) -> None:
        """Merge q/k/v and w1/w2 projections into single GEMMs (same values, no extra memory)."""
        for block in self.blocks:
            block.attn.fuse()
            block.mlp.fuse()

    def rope(self, device: torch.device) -> torch.Tensor:
        if device not in self._rope:
            self._rope[device] = rope_tables(self.config, device)
        return self._rope[device]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if pixels.shape[-2:] != (size, size):
            raise ValueError(f"expected {size}x{size} pixels, got {tuple(pixels.shape[-2:])}")
        x = self.patch_embed(pixels.to(self.compute_dtype or self.cls_token.dtype))
        cls = self.cls_token.to(x.dtype).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed.to(x.dtype)
        rotation = self.rope(x.device)
        for block in self.blocks:
            x = block(x, rotation)
        return self.norm(x)[:, 0]
