"""`JinaClipV2Model`: the XLM-RoBERTa text tower, the EVA-02 vision tower and ``logit_scale``."""

from __future__ import annotations

import torch
from torch import nn

from ..jina_clip.vision import VisionTower
from .config import JinaClipV2Config
from .text import TextTower


class JinaClipV2Model(nn.Module):
    """Native jina-clip-v2. ``encode_text``/``encode_image`` return raw (unnormalized) vectors.

    Example::

        config = JinaClipV2Config.from_dict(json.load(open("config.json")), shipped_base_config())
        model = JinaClipV2Model(config)
        raw = model.encode_text(torch.tensor([[0, 581, 2]]))
    """

    def __init__(self, config: JinaClipV2Config) -> None:
        super().__init__()
        self.config = config
        self.text_model = TextTower(config.text)
        self.vision_model = VisionTower(config.vision)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def set_compute_dtype(self, dtype: torch.dtype | None) -> None:
        """Run activations in ``dtype`` (weights are cast per layer); None: the weights' dtype."""
        self.text_model.encoder.compute_dtype = dtype
        self.vision_model.compute_dtype = dtype

    def fuse(self) -> None:
        """Nothing: the vision projections stay separate GEMMs.

        At this size (EVA-02-L, 24 x (3 + 2) projections) fusing them after loading, as v1 does,
        copies 412 MB of bfloat16 weights into new buffers; the freed originals stay in the
        allocator's heap, so a bfloat16 load peaked at 1.44x the file instead of 1.18x (measured
        with benchmarks/v2_real_size.py). The separate GEMMs are just as wide (1297 tokens).
        """

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_model(input_ids)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_model(pixel_values)
