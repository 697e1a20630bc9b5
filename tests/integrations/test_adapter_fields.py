"""The adapters' config fields have one source, EmbedderConfig: a new field needs no edit in
LlamaIndex/LangChain, and Haystack's explicit signatures are checked against it."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
import typing
from typing import Any

import pytest

from clipbridge import EmbedderConfig
from clipbridge.config_fields import config_fields
from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentEmbedder,
    ClipBridgeDocumentImageEmbedder,
    ClipBridgeTextEmbedder,
)
from langchain_clipbridge import ClipBridgeEmbeddings
from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

HAYSTACK = [ClipBridgeTextEmbedder, ClipBridgeDocumentEmbedder, ClipBridgeDocumentImageEmbedder]
NOT_HAYSTACK_PARAMETERS = (
    "api_key",
    "show_progress",
    "precision",
)  # a Secret, progress_bar, list[float]


@dataclasses.dataclass(kw_only=True)
class WithNewField(EmbedderConfig):
    """EmbedderConfig with a field added, as a future change would add one."""

    new_knob: str = "auto"


@dataclasses.dataclass(kw_only=True)
class OtherBatchSize(EmbedderConfig):
    batch_size: int = 7


def signature_drift(component: type, config: type[EmbedderConfig] = EmbedderConfig) -> list[str]:
    """Each config field that ``component.__init__`` lacks or has with another default or type."""
    params = inspect.signature(component.__init__).parameters
    hints = typing.get_type_hints(component.__init__)
    drift = []
    for field in config_fields(config):
        if field.name in NOT_HAYSTACK_PARAMETERS:
            continue
        if field.name not in params:
            drift.append(f"{field.name}: not an init parameter")
            continue
        if params[field.name].default != field.default:
            drift.append(
                f"{field.name}: default {params[field.name].default!r}, not {field.default!r}"
            )
        hint = hints[field.name]  # device takes more forms in Haystack: the config's is one
        if hint != field.type and field.type not in typing.get_args(hint):
            drift.append(f"{field.name}: type {hint}, not {field.type}")
    return drift


@pytest.mark.parametrize("component", HAYSTACK)
def test_haystack_signatures_match_the_config(component: type) -> None:
    assert signature_drift(component) == []
    # The check can fail: a new field, or a changed default, is named.
    assert signature_drift(component, WithNewField) == ["new_knob: not an init parameter"]
    assert signature_drift(component, OtherBatchSize) == ["batch_size: default 32, not 7"]


NEW_FIELD = """
import dataclasses, clipbridge, clipbridge.config

@dataclasses.dataclass(kw_only=True)
class WithNewField(clipbridge.config.EmbedderConfig):
    new_knob: str = "auto"

clipbridge.EmbedderConfig = clipbridge.config.EmbedderConfig = WithNewField
from langchain_clipbridge import ClipBridgeEmbeddings
from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

for cls in (ClipBridgeEmbeddings, ClipBridgeEmbedding):
    assert cls.model_fields["new_knob"].default == "auto", cls
    assert cls.model_fields["new_knob"].annotation is str, cls
    assert cls().to_config().new_knob == "auto", cls
    assert cls(new_knob="bf16").to_config().new_knob == "bf16", cls
print("new_knob reaches both")
"""


def test_a_new_config_field_reaches_the_pydantic_adapters_unedited() -> None:
    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
    proc = subprocess.run(
        [sys.executable, "-c", NEW_FIELD], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "new_knob reaches both"


ADAPTERS: list[Any] = [ClipBridgeEmbeddings, ClipBridgeEmbedding, *HAYSTACK]
# Jina's (width, height) and a dict that is no ComponentDevice's. (The pydantic adapters take
# "224" as 224, pydantic's lax mode; the core and Haystack refuse it.)
BAD = [("image_size", (224, 224)), ("device", {"gpu": 0}), ("device", ["cpu"])]


@pytest.mark.parametrize(("name", "value"), BAD)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_value_of_the_wrong_type_is_a_value_error_naming_the_field(
    adapter: Any, name: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=name):
        adapter(**{name: value})
