from __future__ import annotations

import asyncio
import copy
import gc
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from clipbridge import EmbedderConfig
from clipbridge.lazy import LazyEmbedder


def test_builds_once_and_rebuilds_on_a_new_config(tiny_model_path):
    holder = LazyEmbedder()
    cfg = EmbedderConfig(model=tiny_model_path)
    assert holder.built is None and holder.current(cfg) is None
    with ThreadPoolExecutor(4) as pool:
        built = set(map(id, pool.map(lambda _: holder.get(cfg), range(8))))
    assert len(built) == 1 and holder.current(cfg) is holder.built
    other = holder.get(cfg.replace(batch_size=3))
    assert other.config.batch_size == 3 and holder.current(cfg) is None


async def test_aget(tiny_model_path):
    holder = LazyEmbedder()
    cfg = EmbedderConfig(model=tiny_model_path)
    emb = await holder.aget(cfg)
    assert await holder.aget(cfg) is emb


def test_copies_and_pickles_start_empty(tiny_model_path):
    holder = LazyEmbedder()
    holder.get(EmbedderConfig(model=tiny_model_path))
    for clone in (copy.copy(holder), copy.deepcopy(holder), pickle.loads(pickle.dumps(holder))):
        assert clone.built is None
    holder.close()
    assert holder.built is None


def _resource_warnings(scenario) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario()
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.filterwarnings("error::ResourceWarning")
def test_a_replaced_embedder_is_closed_at_once(api_server):
    cfg = EmbedderConfig(**api_server.embedder_kwargs())
    holder = LazyEmbedder()
    api_server.vectors = "hash"  # fast pseudo-vectors: this is about clients, not values

    def thirty_field_changes():
        for step in range(30):
            emb = holder.get(cfg.replace(max_retries=step % 3, api_batch_size=step + 1))
            emb.embed_texts(["a"])
            asyncio.run(emb.aembed_texts(["b"]))
        holder.close()

    try:
        assert _resource_warnings(thirty_field_changes) == []
    finally:
        api_server.vectors = "model"
    assert holder.built is None


@pytest.mark.filterwarnings("error::ResourceWarning")
def test_replacing_closes_the_old_backend(api_server):
    holder = LazyEmbedder()
    cfg = EmbedderConfig(**api_server.embedder_kwargs())
    old = holder.get(cfg)
    old.embed_texts(["a"])
    client = old.backend._client
    new = holder.get(cfg.replace(timeout=5.0))
    assert new is not old and client.is_closed and old.backend._client is None
    new.close()
