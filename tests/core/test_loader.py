"""Loading from folders and from the Hugging Face cache, and clear errors for bad checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hub_cache import REVISION, save_snapshot
from safetensors.numpy import load_file, save_file

from clipbridge import Embedder, ModelLoadError
from clipbridge.models.families import FAMILIES

V1_FILES = ("config.json", *FAMILIES[0].files)


def _copy(tiny_model_path: str, dst: Path) -> Path:
    shutil.copytree(tiny_model_path, dst)
    for path in dst.iterdir():
        path.chmod(0o644)
    return dst


def test_missing_and_unexpected_keys_are_listed(tiny_model_path, tmp_path):
    folder = _copy(tiny_model_path, tmp_path / "broken")
    weights = load_file(folder / "model.safetensors")
    del weights["vision_model.norm.bias"]
    weights["vision_model.head.weight"] = np.zeros((2, 2), dtype=np.float32)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError) as info:
        Embedder(str(folder))
    msg = str(info.value)
    assert "missing keys ['vision_model.norm.bias']" in msg
    assert "unexpected keys ['vision_model.head.weight']" in msg


def test_pooler_weights_are_ignored(tiny_model_path, tmp_path, fixture_texts):
    folder = _copy(tiny_model_path, tmp_path / "pooler")
    weights = load_file(folder / "model.safetensors")
    weights["text_model.transformer.pooler.dense.weight"] = np.zeros((96, 96), dtype=np.float32)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    got = Embedder(str(folder)).embed_texts(fixture_texts)
    np.testing.assert_allclose(got, Embedder(tiny_model_path).embed_texts(fixture_texts), atol=1e-6)


def test_folder_without_weights(tiny_model_path, tmp_path):
    folder = _copy(tiny_model_path, tmp_path / "noweights")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"lacks model\.safetensors"):
        Embedder(str(folder))


def test_nonexistent_path(tmp_path):
    with pytest.raises(ModelLoadError, match="neither an existing folder nor"):
        Embedder(str(tmp_path / "a" / "b"))


def test_hub_id_and_alias_load_only_the_needed_files(tiny_model_path, tmp_path, monkeypatch):
    import huggingface_hub

    revision = REVISION
    save_snapshot(
        tmp_path / "hub", "jinaai/jina-clip-v1", {n: Path(tiny_model_path) / n for n in V1_FILES}
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requested = []
    real = huggingface_hub.hf_hub_download

    def recording(repo_id, filename, **kwargs):
        requested.append((repo_id, filename, kwargs.get("revision")))
        return real(repo_id, filename, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", recording)
    cache = str(tmp_path / "hub")
    a = Embedder("jina-clip-v1", cache_dir=cache)
    b = Embedder("jinaai/jina-clip-v1", cache_dir=cache, revision=revision)
    assert a.backend.loaded.model is b.backend.loaded.model
    assert {f for _, f, _ in requested} == set(V1_FILES)
    assert {r for r, _, _ in requested} == {"jinaai/jina-clip-v1"}
    assert (None in {v for *_, v in requested}) and (revision in {v for *_, v in requested})
    np.testing.assert_allclose(
        a.embed_texts(["hello"]), Embedder(tiny_model_path).embed_texts(["hello"]), atol=1e-6
    )


def test_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        Embedder("jinaai/jina-clip-v1", cache_dir=str(tmp_path / "empty"))
    assert "local folder" in str(info.value) and "backend='api'" in str(info.value)


def test_the_family_comes_from_config_json_not_the_name(tiny_model_path, tmp_path):
    folder = _copy(tiny_model_path, tmp_path / "renamed-to-something-else")
    emb = Embedder(str(folder))
    assert emb.backend.loaded.family == "jina-clip-v1"
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "bert"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as info:
        Embedder(str(folder))
    assert "describes a bert model" in str(info.value)
    assert "supported: jina-clip-v1, jina-clip-v2" in str(info.value)


def test_unreachable_hub_fails_fast_with_one_sentence(tmp_path):
    # A closed port on 127.0.0.1 stands in for "no network": without the probe the hub client
    # retries for about 30 s and prints a line per retry.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HOME": str(tmp_path / "hf"),
    }
    env.pop("HF_HUB_OFFLINE", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "clipbridge.cli", "info", "--model", "org/name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "config.json of 'org/name'" in lines[0] and "unreachable" in lines[0]
    assert seconds < 15, seconds  # python + torch import; the old path took ~30 s of retries
