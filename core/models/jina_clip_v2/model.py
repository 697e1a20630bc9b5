"""`JinaClipV2Model`: the XLM-RoBERTa text tower, the EVA-02 vision tower and ``logit_scale``."""

from __future__ import annotations

from ..jina_clip.model import TwoTowerModel
from .config import JinaClipV2Config
from .text import TextTower


class JinaClipV2Model(TwoTowerModel):
    """Native jina-clip-v2. ``encode_text``/``encode_image`` return raw (unnormalized) vectors.

    Example::

        config = JinaClipV2Config.from_dict(json.load(open("config.json")), shipped_base_config())
        model = JinaClipV2Model(config)
        raw = model.encode_text(torch.tensor([[0, 581, 2]]))
    """

    config: JinaClipV2Config

    def __init__(self, config: JinaClipV2Config) -> None:
        super().__init__(config, TextTower(config.text))

    def fuse(self) -> None:
        """Nothing: the vision projections stay separate GEMMs.

        At this size (EVA-02-L, 24 x (3 + 2) projections) fusing them after loading, as v1 does,
        copies 412 MB of bfloat16 weights into new buffers; the freed originals stay in the
        allocator's heap, so a bfloat16 load peaked at 1.44x the file instead of 1.18x (measured
        with benchmarks/v2_real_size.py). The separate GEMMs are just as wide (1297 tokens).
        """
