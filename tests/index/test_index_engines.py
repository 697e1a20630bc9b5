"""The engine interface of ``clipbridge index``: names, and the width read without a model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clipbridge import Embedder, EmbedderConfig
from clipbridge.index.engines import ENGINES, config_dimension, make_engine
from clipbridge.index.pipeline import LocalEngine

V2 = "tests/fixtures/tiny-jina-clip-v2"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("tests/fixtures/tiny-jina-clip-v1", {}),
        (V2, {}),
        (V2, {"dimensions": 32}),
        (V2, {"dimensions": 16, "precision": "binary"}),
    ],
)
def test_the_width_from_the_config_files_is_the_embedders(model, fields):
    config = EmbedderConfig(model=model, **fields)
    assert config_dimension(config) == Embedder.from_config(config).dimension


def test_dimensions_the_model_was_not_trained_for_are_refused_without_loading_it():
    with pytest.raises(ValueError, match="dimensions=128 is above"):
        config_dimension(EmbedderConfig(model=V2, dimensions=128))
    with pytest.raises(ValueError, match="was not trained"):
        config_dimension(EmbedderConfig(model="tests/fixtures/tiny-jina-clip-v1", dimensions=8))


def test_the_width_is_read_without_torch():
    code = (
        "import sys\n"
        "from clipbridge import EmbedderConfig\n"
        "from clipbridge.index.engines import config_dimension\n"
        f"print(config_dimension(EmbedderConfig(model={V2!r})), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["64", "False"]


def test_engines_by_name(tiny_model_path):
    assert set(ENGINES) == {"local", "ray"}
    local = make_engine("local", config=EmbedderConfig(model=tiny_model_path))
    assert isinstance(local, LocalEngine) and local.config.model == tiny_model_path
    ray = make_engine("ray", config=EmbedderConfig(model=tiny_model_path), options={"num_cpus": 2})
    assert (ray.name, ray.options.num_cpus, ray.config.model) == ("ray", 2, tiny_model_path)
    with pytest.raises(ValueError, match="engine must be one of 'local', 'ray', not 'spark'"):
        make_engine("spark")
