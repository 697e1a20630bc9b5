"""ClipBridgeTextEmbedder: init, serialization, run/run_async, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.utils import Secret

from clipbridge import DEFAULT_MODEL, Embedder, EmbedderConfig, ModelLoadError
from haystack_integrations.components.embedders.clipbridge import ClipBridgeTextEmbedder

TYPE = "haystack_integrations.components.embedders.clipbridge.text_embedder.ClipBridgeTextEmbedder"
CUSTOM = {
    "model": "jina-clip-v1",
    "api_key": Secret.from_env_var("MY_JINA_KEY"),
    "prefix": "query: ",
    "suffix": " .",
    "progress_bar": False,
    "backend": "api",
    "device": "cpu",
    "dtype": "float32",
    "batch_size": 8,
    "normalize": False,
    "base_url": "http://127.0.0.1:9",
    "timeout": 5.0,
    "max_retries": 0,
    "dimensions": 64,
}


def test_init_default(monkeypatch):
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    embedder = ClipBridgeTextEmbedder()
    assert embedder.model == DEFAULT_MODEL
    assert embedder.api_key == Secret.from_env_var("JINA_API_KEY", strict=False)
    assert embedder.prefix == embedder.suffix == ""
    assert embedder.progress_bar is True
    assert embedder._config() == EmbedderConfig(show_progress=True)


def test_init_does_not_load_the_model():
    embedder = ClipBridgeTextEmbedder(model="/no/such/model/folder")
    with pytest.raises(ModelLoadError):
        embedder.warm_up()


def test_init_with_params():
    embedder = ClipBridgeTextEmbedder(**CUSTOM)
    for name, value in CUSTOM.items():
        assert getattr(embedder, name) == value, name
    assert embedder._config().backend == "api"
    assert embedder._config().dimensions == 64


def test_init_rejects_bad_values_early():
    with pytest.raises(ValueError, match="device must be one of"):
        ClipBridgeTextEmbedder(device="tpu")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ClipBridgeTextEmbedder(batch_size=0)


def test_to_dict_default():
    data = ClipBridgeTextEmbedder().to_dict()
    assert data["type"] == TYPE
    params = data["init_parameters"]
    assert params["api_key"] == {"type": "env_var", "env_vars": ["JINA_API_KEY"], "strict": False}
    assert params["progress_bar"] is True
    assert params["prefix"] == params["suffix"] == ""
    expected = EmbedderConfig().to_dict()
    del expected["show_progress"]
    del expected["precision"]  # not an init parameter: Haystack embeddings are float lists
    assert {k: params[k] for k in expected} == expected


def test_to_dict_holds_no_secret(monkeypatch):
    monkeypatch.setenv("JINA_API_KEY", "jina_very_secret_value_123")
    embedder = ClipBridgeTextEmbedder(backend="api")
    assert embedder.api_key.resolve_value() == "jina_very_secret_value_123"
    assert "jina_very_secret_value_123" not in json.dumps(embedder.to_dict())
    with pytest.raises(ValueError, match="Cannot serialize token-based secret"):
        ClipBridgeTextEmbedder(api_key=Secret.from_token("jina_abc")).to_dict()


def test_from_dict_round_trip():
    embedder = ClipBridgeTextEmbedder(**CUSTOM)
    restored = ClipBridgeTextEmbedder.from_dict(embedder.to_dict())
    for name, value in CUSTOM.items():
        assert getattr(restored, name) == value, name
    assert restored.to_dict() == embedder.to_dict()


def test_run_equals_embedder(tiny_model_path):
    embedder = ClipBridgeTextEmbedder(
        model=tiny_model_path, prefix="q: ", suffix="!", progress_bar=False
    )
    result = embedder.run(text="a cat on a sofa")
    assert result["meta"] == {"model": tiny_model_path}  # no usage: the local backend bills none
    assert isinstance(result["embedding"], list)
    assert all(isinstance(x, float) for x in result["embedding"])
    reference = Embedder(tiny_model_path).embed_texts(["q: a cat on a sofa!"])[0]
    np.testing.assert_array_equal(np.asarray(result["embedding"], dtype=np.float32), reference)
    plain = Embedder(tiny_model_path).embed_texts(["a cat on a sofa"])[0]
    assert not np.allclose(reference, plain)  # the prefix and suffix were really embedded


def test_normalize_false_passes_through(tiny_model_path):
    embedder = ClipBridgeTextEmbedder(model=tiny_model_path, normalize=False, progress_bar=False)
    vector = np.asarray(embedder.run(text="a dog")["embedding"])
    assert abs(np.linalg.norm(vector) - 1.0) > 1e-3


async def test_run_async_equals_run(tiny_model_path):
    embedder = ClipBridgeTextEmbedder(model=tiny_model_path, progress_bar=False)
    result = await embedder.run_async(text="a dog")
    assert result == embedder.run(text="a dog")


def test_warm_up_is_idempotent_and_run_warms_up(tiny_model_path):
    embedder = ClipBridgeTextEmbedder(model=tiny_model_path, progress_bar=False)
    assert embedder._embedder is None
    embedder.run(text="x")  # no explicit warm_up: run warms up (Haystack 3 convention)
    first = embedder._embedder
    assert first is not None
    embedder.warm_up()
    assert embedder._embedder is first
    embedder.close()
    assert embedder._embedder is None
    assert len(embedder.run(text="x")["embedding"]) == first.dimension


@pytest.mark.parametrize("bad", [["a list"], Document(content="doc"), None, 3])
def test_wrong_input_type(tiny_model_path, bad):
    embedder = ClipBridgeTextEmbedder(model=tiny_model_path)
    with pytest.raises(TypeError, match="ClipBridgeTextEmbedder expects a string"):
        embedder.run(text=bad)


async def test_wrong_input_type_async(tiny_model_path):
    embedder = ClipBridgeTextEmbedder(model=tiny_model_path)
    with pytest.raises(TypeError, match="expects a string"):
        await embedder.run_async(text=["a"])


def test_pipeline_round_trip(tiny_model_path):
    pipeline = Pipeline()
    pipeline.add_component("embedder", ClipBridgeTextEmbedder(model=tiny_model_path, prefix="q: "))
    restored = Pipeline.loads(pipeline.dumps())
    assert restored == pipeline
    assert isinstance(restored.get_component("embedder"), ClipBridgeTextEmbedder)
    assert restored.get_component("embedder").prefix == "q: "


async def test_run_async_warms_up_off_the_event_loop(tiny_model_path, monkeypatch):
    import threading

    embedder = ClipBridgeTextEmbedder(model=tiny_model_path, progress_bar=False)
    loop_thread = threading.current_thread()
    threads = []
    real = ClipBridgeTextEmbedder.warm_up

    def recording(self):
        threads.append(threading.current_thread())
        real(self)

    monkeypatch.setattr(ClipBridgeTextEmbedder, "warm_up", recording)
    result = await embedder.run_async(text="a cat")
    assert len(result["embedding"]) == 96
    assert threads and threads[0] is not loop_thread
