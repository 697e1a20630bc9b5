"""Native PyTorch jina-clip-v1: JinaBERT text tower + EVA-02 vision tower.

The names below are imported on first use, so :mod:`.config` and :mod:`.info` (no torch) can be
imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["JinaClipConfig", "JinaClipModel", "TextConfig", "VisionConfig"]

_WHERE = {
    "JinaClipConfig": ".config",
    "TextConfig": ".config",
    "VisionConfig": ".config",
    "JinaClipModel": ".model",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
