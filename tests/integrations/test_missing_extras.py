"""Importing an adapter whose framework is not installed names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    # adapter, a framework module made unimportable, what the message says
    (
        "langchain_clipbridge",
        "langchain_core",
        "LangChain adapter needs langchain-core",
        "langchain",
    ),
    (
        "llama_index.embeddings.clipbridge",
        "llama_index.core",
        "LlamaIndex adapter needs llama-index-core",
        "llama-index",
    ),
    (
        "haystack_integrations.components.embedders.clipbridge",
        "haystack",
        "Haystack adapter needs haystack-ai",
        "haystack",
    ),
]


@pytest.mark.parametrize(("adapter", "blocked", "needs", "extra"), CASES)
def test_adapter_without_its_framework_names_the_extra(adapter, blocked, needs, extra):
    # ``sys.modules[name] = None`` makes ``import name`` fail as if it were not installed.
    code = f"import sys; sys.modules[{blocked!r}] = None; import {adapter}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: clipbridge's {needs} ({blocked}"), last
    assert last.endswith(f' is missing): pip install "clipbridge[{extra}]"'), last


def test_other_missing_modules_are_not_blamed_on_the_extra():
    """A missing module that is not the framework (here numpy) stays what it is."""
    code = "import sys; sys.modules['numpy'] = None; import langchain_clipbridge"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "ModuleNotFoundError" in proc.stderr and "pip install" not in proc.stderr
