"""Embedder behaviour: config, sharing, threads, async, normalization."""

from __future__ import annotations

import asyncio
import importlib
import pickle
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import clipbridge
from clipbridge import Embedder, EmbedderConfig


def test_public_surface_matches_all():
    exported = {
        name
        for name in dir(clipbridge)
        if not name.startswith("_") and not isinstance(getattr(clipbridge, name), types.ModuleType)
    }
    assert exported - {"annotations"} == set(clipbridge.__all__) - {"__version__"}
    # one import name per thing: the old alias modules are gone
    for alias in ("clipbridge.core", "clipbridge.integrations"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(alias)


def test_config_defaults_and_validation():
    cfg = EmbedderConfig()
    assert (cfg.model, cfg.backend, cfg.max_length, cfg.normalize) == (
        "jinaai/jina-clip-v1",
        "local",
        8192,
        True,
    )
    for bad in ({"backend": "gpu"}, {"batch_size": 0}, {"dtype": "int8"}, {"timeout": 0}):
        with pytest.raises(ValueError):
            EmbedderConfig(**bad)
    with pytest.raises(TypeError, match="unknown EmbedderConfig fields: colour"):
        EmbedderConfig.from_dict({"colour": "red"})


def test_config_never_writes_the_key(monkeypatch):
    cfg = EmbedderConfig(api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(cfg)
    assert "api_key" not in cfg.to_dict()
    assert "sk-secret-123" not in str(cfg.to_dict())
    restored = EmbedderConfig.from_dict(cfg.to_dict())
    assert restored.api_key is None and restored.to_dict() == cfg.to_dict()
    monkeypatch.setenv("JINA_API_KEY", "from-env")
    assert restored.resolved_api_key() == "from-env"
    assert cfg.resolved_api_key() == "sk-secret-123"
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_from_config_and_keywords_agree(tiny_model_path):
    cfg = EmbedderConfig(model=tiny_model_path, batch_size=3)
    a = Embedder.from_config(cfg)
    b = Embedder(tiny_model_path, batch_size=3)
    assert a.config == b.config and a.model == tiny_model_path
    assert a.dimension == 96


def test_two_embedders_share_one_model(tiny_model_path):
    a = Embedder(tiny_model_path)
    b = Embedder(tiny_model_path, normalize=False, batch_size=7)
    assert a.backend.loaded.model is b.backend.loaded.model
    c = Embedder(tiny_model_path, dtype="bfloat16", device="cpu")
    assert c.backend.loaded.model is not a.backend.loaded.model


def test_thread_pool_of_four(tiny_model_path, fixture_texts):
    emb = Embedder(tiny_model_path, max_length=512)
    expected = emb.embed_texts(fixture_texts)
    jobs = [fixture_texts[i:] + fixture_texts[:i] for i in range(len(fixture_texts))] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(emb.embed_texts, jobs))
    for i, got in enumerate(results):
        shift = i % len(fixture_texts)
        np.testing.assert_allclose(got, np.roll(expected, -shift, axis=0), atol=2e-6)


async def test_async_equals_sync(tiny_model_path, fixture_texts, fixture_images):
    emb = Embedder(tiny_model_path)
    t, i = await asyncio.gather(emb.aembed_texts(fixture_texts), emb.aembed_images(fixture_images))
    np.testing.assert_allclose(t, emb.embed_texts(fixture_texts), atol=1e-6)
    np.testing.assert_allclose(i, emb.embed_images(fixture_images), atol=1e-6)
    assert (await emb.aembed_texts([])).shape == (0, 96)


def test_output_dtype_and_order(tiny_model_path):
    emb = Embedder(tiny_model_path, batch_size=2)
    texts = ["short", "a much longer text " * 30, "mid length text here", "x"]
    together = emb.embed_texts(texts)
    assert together.dtype == np.float32 and together.shape == (4, 96)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(together[i], emb.embed_texts([text])[0], atol=2e-6)


def test_progress_bar(tiny_model_path, fixture_texts, capsys):
    emb = Embedder(tiny_model_path, show_progress=True)
    emb.embed_texts(fixture_texts)
    assert "Embedding texts" in capsys.readouterr().err
    emb.embed_texts(fixture_texts, show_progress=False)
    assert "Embedding texts" not in capsys.readouterr().err


def test_api_backend_never_imports_torch():
    """Users of the API backend install no torch: nothing on that path may import it.

    (Haystack itself imports torch when it is installed, so its adapter is not checked here.)
    """
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from clipbridge import Embedder\n"
        "import langchain_clipbridge, llama_index.embeddings.clipbridge\n"
        "emb = Embedder('jina-clip-v1', backend='api', api_key='k')\n"
        "assert emb.dimension == 768\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_count_tokens_uses_the_tokenizer_and_estimates_without_one(tiny_model_path):
    emb = Embedder(tiny_model_path, max_length=8)
    texts = ["a cat", "", "one two three four five six seven eight nine ten"]
    ids = emb.backend.tokenize(texts)
    assert emb.count_tokens(texts) == [len(seq) for seq in ids]
    assert emb.count_tokens(texts)[1] == 2 and emb.count_tokens(texts)[2] == 8  # [CLS] [SEP], cut
    api = Embedder("jina-clip-v1", backend="api", api_key="k")
    assert api.count_tokens(["a cat", "one two three"]) == [3, 4]  # ceil(1.1 per word)
    with pytest.raises(clipbridge.InvalidInputError):
        emb.count_tokens(["fine", 3])
