"""One safetensors loader for every native family; jina-clip-v2's LoRA merge is its plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from clipbridge.models import files
from clipbridge.models.jina_clip.loader import build as build_v1
from clipbridge.models.jina_clip_v2.loader import build as build_v2

FIXTURES = Path(__file__).parents[1] / "fixtures"
V1 = FIXTURES / "tiny-jina-clip-v1"
V2 = FIXTURES / "tiny-jina-clip-v2"
CPU = torch.device("cpu")


@pytest.mark.parametrize(("folder", "build"), [(V1, build_v1), (V2, build_v2)], ids=["v1", "v2"])
def test_every_tensor_is_read_once_by_the_one_loader(folder, build, monkeypatch):
    read = []
    real = files.read_tensor

    def recording(fh, info, base):
        read.append(tuple(info["data_offsets"]))
        return real(fh, info, base)

    monkeypatch.setattr(files, "read_tensor", recording)
    build(folder, json.loads((folder / "config.json").read_text()), CPU, torch.float32)
    stored = load_file(folder / "model.safetensors")
    assert len(read) == len(set(read)) == len(stored)  # v2: originals and adapters, each once


def test_the_lora_plan_merges_the_configured_adapter():
    config = json.loads((V2 / "config.json").read_text())
    loaded = build_v2(V2, config, CPU, torch.float32)
    stored = {k: v.astype(np.float64) for k, v in load_file(V2 / "model.safetensors").items()}
    text = config["text_config"]["hf_model_config_kwargs"]
    scaling = text["lora_alpha"] / text["lora_rank"]  # one adapter: index 0
    state = loaded.model.state_dict()
    stem = "text_model.transformer.roberta."
    for name, embedding in (
        ("embeddings.word_embeddings", True),
        ("encoder.layers.1.mixer.Wqkv", False),
        ("encoder.layers.0.mlp.fc2", False),
    ):
        key = f"{stem}{name}.parametrizations.weight."
        a, b = stored[key + "0.lora_A"][0], stored[key + "0.lora_B"][0]
        delta = (a @ b) if embedding else (b @ a)
        want = stored[key + "original"] + delta * scaling
        got = state[f"{stem}{name}.weight"].numpy()
        assert np.abs(delta).max() > 1e-3  # the adapter moves this weight
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
