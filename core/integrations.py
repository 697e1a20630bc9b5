"""``clipbridge.integrations``: the adapters, reachable from the core's namespace.

Each adapter lives under its framework's own import convention; these names are lazy
aliases, so importing this module imports no framework::

    from clipbridge.integrations import llama_index   # == llama_index.embeddings.clipbridge
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "llama_index": "llama_index.embeddings.clipbridge",
    "langchain": "langchain_clipbridge",
    "haystack": "haystack_integrations.components.embedders.clipbridge",
}

__all__ = sorted(MODULES)


def __getattr__(name: str) -> ModuleType:
    if name not in MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(MODULES[name])
