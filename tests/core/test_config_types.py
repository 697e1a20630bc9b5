"""Every EmbedderConfig field is type-checked at construction: a ValueError naming the field,
never a TypeError or AttributeError later (or a wrong value accepted and failing elsewhere)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from clipbridge import EmbedderConfig

INTS = ["32", 32.0, True, False, None, (224, 224), [1], {"n": 1}, 1 + 0j]
OPTIONAL_INTS = [v for v in INTS if v is not None]
SECONDS = ["5", True, None, (5,), float("nan"), float("inf"), -1.0, 0]
FLAGS = [1, 0, "yes", "false", None, np.bool_(True)]
STRS = [None, 5, b"cpu", ["cpu"], {"cpu": 1}, Path("x")]
OPTIONAL_STRS = [5, b"abc", ["a"], {"a": 1}]

BAD = {
    "model": [*STRS, ""],
    "backend": [*STRS, "gpu"],
    "revision": OPTIONAL_STRS,
    "cache_dir": OPTIONAL_STRS,
    "device": [*STRS, "tpu"],
    "dtype": [*STRS, "int8"],
    "batch_size": [*INTS, 0],
    "max_length": [*INTS, 1],
    "max_batch_tokens": [*INTS, 0],
    "normalize": FLAGS,
    "show_progress": FLAGS,
    "base_url": STRS,
    "api_key": OPTIONAL_STRS,
    "timeout": SECONDS,
    "max_retries": [*INTS, -1],
    "max_concurrency": [*INTS, 0],
    "api_batch_size": [*INTS, 0],
    "api_max_request_bytes": [*INTS, 0],
    "api_image_shrink": FLAGS,
    "send_image_urls": FLAGS,
    "embedding_type": [*STRS, "binary"],
    "dimensions": [*OPTIONAL_INTS, 0],
    "precision": [*STRS, "fp16", "INT8", "binary8"],
    "image_size": [*OPTIONAL_INTS, 0],
    "max_image_pixels": [*INTS, 0],
    "max_image_bytes": [*INTS, 0],
    "image_fetch_timeout": SECONDS,
    "allow_private_urls": FLAGS,
    "image_workers": [*INTS, 0],
    "fast_image_decode": FLAGS,
}
CASES = [(name, value) for name, values in BAD.items() for value in values]


def test_every_field_has_bad_values_here():
    assert set(BAD) == set(EmbedderConfig.field_names())


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_a_wrong_value_is_a_value_error_naming_the_field(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be") as info:
        EmbedderConfig(**{name: value})
    assert type(info.value) is ValueError
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        EmbedderConfig().replace(**{name: value})  # replace validates again


def test_the_message_shows_the_value_and_its_type():
    with pytest.raises(ValueError) as info:
        EmbedderConfig(dimensions="32")
    assert str(info.value) == "dimensions must be a positive integer or None, not '32' (str)"
    with pytest.raises(ValueError) as info:
        EmbedderConfig(image_size=(224, 224))
    assert (
        str(info.value) == "image_size must be a positive integer or None, not (224, 224) (tuple)"
    )
    with pytest.raises(ValueError) as info:
        EmbedderConfig(device={"type": "cuda"})
    assert str(info.value) == "device must be a string, not {'type': 'cuda'} (dict)"


def test_numpy_numbers_and_paths_are_taken_as_plain_values():
    cfg = EmbedderConfig(
        dimensions=np.int64(32),
        batch_size=np.int32(4),
        timeout=np.float32(2.5),
        image_fetch_timeout=7,
        cache_dir=Path("/tmp/models"),
    )
    assert (cfg.dimensions, cfg.batch_size, cfg.timeout) == (32, 4, 2.5)
    assert type(cfg.dimensions) is int and type(cfg.batch_size) is int
    assert type(cfg.timeout) is float and type(cfg.image_fetch_timeout) is float
    assert cfg.cache_dir == "/tmp/models"
    json.dumps(cfg.to_dict())  # plain JSON values
    assert EmbedderConfig.from_dict(cfg.to_dict()) == cfg


def test_the_defaults_are_valid_and_unchanged():
    cfg = EmbedderConfig()
    defaults = {f.name: f.default for f in dataclasses.fields(EmbedderConfig)}
    assert cfg.to_dict() == {k: v for k, v in defaults.items() if k != "api_key"}
