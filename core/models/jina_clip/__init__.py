"""Native PyTorch jina-clip-v1: JinaBERT text tower + EVA-02 vision tower.

The names below are imported on first use: :mod:`.config` and :mod:`.info` need no torch.
"""

from __future__ import annotations

from ..base import lazy_exports

__all__ = ["JinaClipConfig", "JinaClipModel", "TextConfig", "VisionConfig"]

_CONFIG = ("JinaClipConfig", "TextConfig", "VisionConfig")
__getattr__ = lazy_exports(
    __name__, {"JinaClipModel": ".model"} | dict.fromkeys(_CONFIG, ".config")
)
