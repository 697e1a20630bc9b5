"""Native PyTorch jina-clip-v2: Jina-XLM-RoBERTa text tower (LoRA merged) + EVA-02-L vision.

The names below are imported on first use, so :mod:`.config` and :mod:`.info` (no torch) can be
imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["JinaClipV2Config", "JinaClipV2Model", "XlmRobertaConfig", "shipped_base_config"]

_WHERE = {
    "JinaClipV2Config": ".config",
    "XlmRobertaConfig": ".config",
    "shipped_base_config": ".config",
    "JinaClipV2Model": ".model",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
