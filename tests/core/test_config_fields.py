"""`clipbridge.config_fields`: the EmbedderConfig fields as the adapters build theirs from them."""

from __future__ import annotations

import dataclasses

import pytest

from clipbridge import EmbedderConfig
from clipbridge.config import DEFAULT_MODEL, BackendName
from clipbridge.config_fields import ConfigField, config_fields, field_definitions


def test_every_field_with_its_type_and_default() -> None:
    fields = config_fields()
    assert [f.name for f in fields] == EmbedderConfig.field_names()
    defaults = EmbedderConfig()
    assert all(f.default == getattr(defaults, f.name) for f in fields)
    by_name = {f.name: f for f in fields}
    assert by_name["model"] == ConfigField("model", str, DEFAULT_MODEL)
    assert by_name["backend"].type == BackendName  # a Literal of the backend names
    assert by_name["image_size"] == ConfigField("image_size", int | None, None)
    assert by_name["timeout"].type is float


def test_definitions_take_renames_and_keep_the_order() -> None:
    plain = field_definitions()
    assert list(plain) == EmbedderConfig.field_names()
    assert plain["batch_size"] == (int, EmbedderConfig().batch_size)
    renamed = field_definitions({"model": "model_name"})
    assert list(renamed) == ["model_name", *EmbedderConfig.field_names()[1:]]
    assert renamed["model_name"] == (str, DEFAULT_MODEL)


def test_a_subclass_field_is_listed_and_one_without_a_plain_default_refused() -> None:
    @dataclasses.dataclass(kw_only=True)
    class WithNewField(EmbedderConfig):
        new_knob: str = "auto"

    assert config_fields(WithNewField)[-1] == ConfigField("new_knob", str, "auto")

    @dataclasses.dataclass(kw_only=True)
    class WithList(EmbedderConfig):
        tags: list[str] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="WithList fields without a plain default: tags"):
        config_fields(WithList)
