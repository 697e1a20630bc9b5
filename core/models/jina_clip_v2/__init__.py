"""Native PyTorch jina-clip-v2: Jina-XLM-RoBERTa text tower (LoRA merged) + EVA-02-L vision.

The names below are imported on first use: :mod:`.config` and :mod:`.info` need no torch.
"""

from __future__ import annotations

from ..base import lazy_exports

__all__ = ["JinaClipV2Config", "JinaClipV2Model", "XlmRobertaConfig", "shipped_base_config"]

_CONFIG = ("JinaClipV2Config", "XlmRobertaConfig", "shipped_base_config")
__getattr__ = lazy_exports(
    __name__, {"JinaClipV2Model": ".model"} | dict.fromkeys(_CONFIG, ".config")
)
