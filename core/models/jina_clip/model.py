"""`JinaClipModel`: both towers and ``logit_scale``; projections are Identity in v1.

:class:`TwoTowerModel` is what jina-clip-v1 and v2 share: an EVA-02 vision tower, a mean-pooled
text tower and the calls a backend makes (jina-clip-v2's model differs only in its text tower).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import JinaClipConfig, TwoTowerConfig
from .encoder import MeanPooledText
from .text import TextTower
from .vision import VisionTower


class TwoTowerModel(nn.Module):
    """A text tower (given), an EVA-02 vision tower and ``logit_scale``; no projections.
    ``encode_text``/``encode_image`` return raw (unnormalized) vectors."""

    def __init__(self, config: TwoTowerConfig, text_model: MeanPooledText) -> None:
        super().__init__()
        self.config = config
        self.text_model = text_model
        self.vision_model = VisionTower(config.vision)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def set_compute_dtype(self, dtype: torch.dtype | None) -> None:
        """Run activations in ``dtype`` (weights are cast per layer); None: the weights' dtype."""
        self.text_model.encoder.compute_dtype = dtype
        self.vision_model.compute_dtype = dtype

    def fuse(self) -> None:
        """Merge projections that share an input into one GEMM each (call after loading)."""
        self.vision_model.fuse()

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_model(input_ids)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_model(pixel_values)


class JinaClipModel(TwoTowerModel):
    """Native jina-clip-v1. ``encode_text``/``encode_image`` return raw (unnormalized) vectors.

    Example::

        model = JinaClipModel(JinaClipConfig.from_dict(json.load(open("config.json"))))
        raw = model.encode_text(torch.tensor([[101, 1037, 102]]))
    """

    config: JinaClipConfig

    def __init__(self, config: JinaClipConfig) -> None:
        super().__init__(config, TextTower(config.text))
