"""Layers that compute in their input's dtype, whatever dtype their weights are stored in.

With weights and inputs in the same dtype these are exactly ``nn.Linear``/``nn.LayerNorm``/
``nn.Conv2d`` (``Tensor.to`` returns the tensor itself). They let a model keep bfloat16 weights
and run float32 activations on CPUs whose bfloat16 matrix kernels are slow: see
:func:`~clipbridge.models.files.compute_dtype_for`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cast(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t.to(like.dtype)


class Linear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.to(x.dtype), _cast(self.bias, x))


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(
            x, self.normalized_shape, _cast(self.weight, x), _cast(self.bias, x), self.eps
        )


class Conv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight.to(x.dtype), _cast(self.bias, x))
