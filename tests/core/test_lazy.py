from __future__ import annotations

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor

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
