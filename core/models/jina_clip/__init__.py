"""Native PyTorch jina-clip-v1: JinaBERT text tower + EVA-02 vision tower."""

from .config import JinaClipConfig, TextConfig, VisionConfig
from .model import JinaClipModel

__all__ = ["JinaClipConfig", "JinaClipModel", "TextConfig", "VisionConfig"]
