"""Native PyTorch jina-clip-v1: JinaBERT text tower + EVA-02 vision tower."""

from .config import JinaClipConfig, TextConfig, VisionConfig
from .loader import LoadedModel, load_model, resolve_model_files
from .model import JinaClipModel

__all__ = [
    "JinaClipConfig",
    "JinaClipModel",
    "LoadedModel",
    "TextConfig",
    "VisionConfig",
    "load_model",
    "resolve_model_files",
]
