"""Every :class:`~clipbridge.EmbedderConfig` field as ``(name, type, default)``, for adapters.

The adapters build their own fields from this list, so a new config field needs no adapter
edit. Example (a pydantic model with every field, ``model`` renamed)::

    from pydantic import BaseModel, create_model

    Fields = create_model("Fields", __base__=BaseModel, **field_definitions({"model": "name"}))
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

from .config import QUERY_TASK, EmbedderConfig, check_task

__all__ = ["ConfigField", "adapter_checks", "config_fields", "field_definitions", "task_fields"]


class ConfigField(NamedTuple):
    """One :class:`~clipbridge.EmbedderConfig` field: its name, resolved type and default."""

    name: str
    type: Any
    default: Any


def config_fields(config: type[EmbedderConfig] = EmbedderConfig) -> tuple[ConfigField, ...]:
    """Every field in declaration order, its type resolved (``int | None``, a ``Literal``).

    ``config`` is :class:`~clipbridge.EmbedderConfig` or a subclass of it (tests add fields).
    """
    hints = typing.get_type_hints(config)
    fields = dataclasses.fields(config)
    missing = [f.name for f in fields if f.default is dataclasses.MISSING]
    if missing:  # a default_factory or a required field cannot be shared as a plain value
        raise TypeError(f"{config.__name__} fields without a plain default: {', '.join(missing)}")
    return tuple(ConfigField(f.name, hints[f.name], f.default) for f in fields)


def field_definitions(
    renamed: Mapping[str, str] | None = None, exclude: tuple[str, ...] = ()
) -> dict[str, tuple[Any, Any]]:
    """``{name: (type, default)}`` for every field, as pydantic's ``create_model`` takes them.

    ``renamed`` maps a config name to the adapter's name for it (``{"model": "model_name"}``);
    ``exclude`` names fields the adapter does not offer (they keep the config's default).
    """
    renamed = renamed or {}
    return {
        renamed.get(f.name, f.name): (f.type, f.default)
        for f in config_fields()
        if f.name not in exclude
    }


def task_fields() -> dict[str, tuple[Any, Any]]:
    """The adapters' two task fields, for ``create_model``: ``query_task`` (default
    ``"retrieval.query"``) and ``document_task`` (default None)."""
    return {"query_task": (str | None, QUERY_TASK), "document_task": (str | None, None)}


def adapter_checks() -> dict[str, Any]:
    """Pydantic validators every adapter model has, for ``create_model(__validators__=...)``:
    each task field is None or a known task, and the whole config is checked at construction
    (the model's ``to_config()``), before any model loads. Only adapters call this: their
    frameworks bring pydantic."""
    from pydantic import ValidationInfo, field_validator, model_validator

    def known_task(cls: type, task: str | None, info: ValidationInfo) -> str | None:
        return check_task(task, info.field_name or "task")

    def check_config(self: Any) -> Any:
        self.to_config()  # bad values fail here, not when the model first loads
        return self

    return {
        "_known_task": field_validator("query_task", "document_task")(known_task),
        "_check_config": model_validator(mode="after")(check_config),
    }
