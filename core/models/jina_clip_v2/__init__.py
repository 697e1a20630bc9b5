"""Native PyTorch jina-clip-v2: Jina-XLM-RoBERTa text tower (LoRA merged) + EVA-02-L vision."""

from .config import JinaClipV2Config, XlmRobertaConfig, shipped_base_config
from .model import JinaClipV2Model

__all__ = ["JinaClipV2Config", "JinaClipV2Model", "XlmRobertaConfig", "shipped_base_config"]
