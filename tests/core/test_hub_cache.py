"""Models named by hub id: the local cache is read first, the hub's host probed only on a miss.

``hub_reachable`` (a TCP connect of up to 3 s) is replaced by a counter that answers "offline",
wherever a clipbridge module holds it, so no test here touches the network.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from hub_cache import REVISION, save_snapshot

import clipbridge.models.hub as hub
import clipbridge.models.jina_clip_v2.info  # noqa: F401  (holds the probe in older code)
from clipbridge import ModelLoadError
from clipbridge.models import load_model

FIXTURES = Path(__file__).parents[1] / "fixtures"
V1 = FIXTURES / "tiny-jina-clip-v1"
V2 = FIXTURES / "tiny-jina-clip-v2"
JINA_FILES = ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json")


@pytest.fixture
def probes(monkeypatch) -> list[float]:
    """Each probe's timeout, in call order; every probe answers 'unreachable'."""
    calls: list[float] = []

    def probe(timeout: float = hub.HUB_PROBE_TIMEOUT) -> bool:
        calls.append(timeout)
        return False

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name, module in list(sys.modules.items()):
        if name.startswith("clipbridge") and hasattr(module, "hub_reachable"):
            monkeypatch.setattr(module, "hub_reachable", probe)
    return calls


def test_a_cached_v1_loads_without_probing_the_hub(tmp_path, probes):
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v1", {n: V1 / n for n in JINA_FILES})
    loaded = load_model("jina-clip-v1", cache_dir=str(cache), device="cpu", dtype="float32")
    assert loaded.family == "jina-clip-v1"
    assert probes == []


def test_a_cached_v2_with_its_base_config_loads_without_probing_the_hub(tmp_path, probes):
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v2", {n: V2 / n for n in JINA_FILES})
    base = json.loads((FIXTURES / "jina-embeddings-v3-config.json").read_text())
    base["rotary_emb_base"] = 10000.0  # shows that the cached base config was the one read
    save_snapshot(cache, "jinaai/jina-embeddings-v3", {"config.json": json.dumps(base)})
    loaded = load_model("jina-clip-v2", cache_dir=str(cache), device="cpu", dtype="float32")
    assert loaded.model.config.text.rotary_emb_base == 10000.0
    assert probes == []


def test_a_missing_base_config_costs_one_probe_then_the_shipped_one_applies(tmp_path, probes):
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v2", {n: V2 / n for n in JINA_FILES})
    loaded = load_model("jina-clip-v2", cache_dir=str(cache), device="cpu", dtype="float32")
    assert loaded.model.config.text.rotary_emb_base == 20000.0  # jina-embeddings-v3's own
    assert probes == [hub.HUB_PROBE_TIMEOUT]


def test_a_file_missing_from_the_cache_probes_once_and_says_the_hub_is_unreachable(
    tmp_path, probes
):
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v1", {"config.json": V1 / "config.json"})
    with pytest.raises(ModelLoadError) as info:
        load_model("jina-clip-v1", cache_dir=str(cache), device="cpu")
    assert str(info.value).startswith(
        "cannot get model.safetensors of 'jinaai/jina-clip-v1': it is not in the local cache "
        "and the Hugging Face Hub is unreachable (LocalEntryNotFoundError)."
    )
    assert probes == [hub.HUB_PROBE_TIMEOUT]


def test_one_load_shares_one_probe(probes):
    probe = hub.hub_probe()
    assert probes == []  # nothing asked before a miss
    assert [probe(), probe(), probe()] == [False, False, False]
    assert len(probes) == 1


def test_a_partly_cached_model_is_completed_from_its_cached_commit(tmp_path, monkeypatch):
    """Files missing from the cache are fetched at the commit the cached ones came from, so the
    hub's newer ``main`` is never mixed into one model's folder."""
    import huggingface_hub

    cache = tmp_path / "hub"
    snapshot = save_snapshot(
        cache, "jinaai/jina-clip-v1", {n: V1 / n for n in ("config.json", "model.safetensors")}
    )
    real = huggingface_hub.hf_hub_download
    downloads = []

    def fake_download(repo_id, filename, *, local_files_only=False, revision=None, **kwargs):
        if local_files_only:
            return real(repo_id, filename, local_files_only=True, revision=revision, **kwargs)
        downloads.append((filename, revision))  # stands in for the hub: the file at `revision`
        target = snapshot.parent / (revision or "f" * 40) / filename
        target.parent.mkdir(exist_ok=True)
        shutil.copy(V1 / filename, target)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    loaded = load_model("jina-clip-v1", cache_dir=str(cache), device="cpu", dtype="float32")
    assert downloads == [
        ("tokenizer.json", REVISION),
        ("preprocessor_config.json", REVISION),
    ]
    assert loaded.folder == snapshot
