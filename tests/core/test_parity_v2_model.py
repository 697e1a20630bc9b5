"""The native jina-clip-v2 model against Jina's own code on the tiny checkpoint (model level).

These feed the reference's own ``input_ids`` / ``pixel_values`` to the model, so a failure here
is in the model or the weight loading, not in tokenization or image preprocessing (those are
checked through the Embedder in ``test_parity_v2.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clipbridge.errors import ModelLoadError
from clipbridge.models.jina_clip_v2.config import (
    BASE_MODEL,
    JinaClipV2Config,
    shipped_base_config,
)
from clipbridge.models.jina_clip_v2.loader import build

FIXTURES = Path(__file__).parents[1] / "fixtures"
V2 = FIXTURES / "tiny-jina-clip-v2"
ATOL, RTOL = 1e-5, 1e-5


def _config() -> dict:
    return json.loads((V2 / "config.json").read_text())


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "tiny-jina-clip-v2-expected.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def fp32():
    return build(V2, _config(), torch.device("cpu"), torch.float32)


def _text(loaded, ids: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return loaded.model.encode_text(torch.from_numpy(ids)).float().numpy()


def _image(loaded, pixels: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        batch = torch.from_numpy(pixels).to(loaded.compute_dtype)
        return loaded.model.encode_image(batch).float().numpy()


def test_shipped_base_config_is_the_real_one():
    base = shipped_base_config()
    assert base["_name_or_path"] == BASE_MODEL
    assert (base["hidden_size"], base["num_hidden_layers"], base["num_attention_heads"]) == (
        1024,
        24,
        16,
    )
    assert base["rotary_emb_base"] == 20000.0 and base["vocab_size"] == 250002


def test_config_takes_sizes_from_overrides_and_the_rest_from_base():
    cfg = JinaClipV2Config.from_dict(_config(), shipped_base_config())
    text = cfg.text
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (64, 2, 4)
    assert (text.intermediate_size, text.vocab_size) == (128, 502)
    assert text.rotary_emb_base == 20000.0  # inherited from the base config
    assert text.layer_norm_eps == 1e-5 and text.pad_token_id == 1
    assert text.lora_scaling == 1.0 and text.lora_index == 0  # alpha 4 / rank 4
    assert text.task_instructions == {
        "retrieval.query": "Represent the query for retrieving evidence documents: "
    }
    assert cfg.vision.grid == 4 and cfg.vision.mlp_hidden == 170
    assert cfg.embed_dim == 64 and cfg.matryoshka_dimensions == (16, 32, 64)


def test_the_real_config_gives_the_real_sizes():
    real = _config()
    real["text_config"]["hf_model_config_kwargs"] = {
        k: v
        for k, v in real["text_config"]["hf_model_config_kwargs"].items()
        if k not in ("hidden_size", "num_hidden_layers", "num_attention_heads")
        and k not in ("intermediate_size", "vocab_size")
    }
    real["text_config"]["embed_dim"] = 1024
    real["vision_config"].update(
        width=1024, layers=24, head_width=64, image_size=512, embed_dim=1024
    )
    cfg = JinaClipV2Config.from_dict(real, shipped_base_config())
    assert (cfg.text.hidden_size, cfg.text.num_hidden_layers, cfg.text.intermediate_size) == (
        1024,
        24,
        4096,
    )
    assert cfg.vision.grid == 36 and cfg.vision.mlp_hidden == 2730 and cfg.vision.heads == 16


def test_a_different_rotary_base_changes_the_output(ref):
    base = dict(shipped_base_config(), rotary_emb_base=10000.0)
    other = build(V2, _config(), torch.device("cpu"), torch.float32, base=base)
    got = _text(other, ref["input_ids"])
    assert np.abs(got - ref["text_embeds_raw"]).max() > 1e-3


def test_text_embeddings_raw(fp32, ref):
    np.testing.assert_allclose(
        _text(fp32, ref["input_ids"]), ref["text_embeds_raw"], atol=ATOL, rtol=RTOL
    )


def test_text_embeddings_raw_len16(fp32, ref):
    np.testing.assert_allclose(
        _text(fp32, ref["input_ids_len16"]), ref["text_embeds_raw_len16"], atol=ATOL, rtol=RTOL
    )


def test_last_hidden_state_at_real_tokens(fp32, ref):
    ids = torch.from_numpy(ref["input_ids"])
    encoder = fp32.model.text_model.encoder
    with torch.inference_mode():
        hidden = encoder(ids, ids != encoder.config.pad_token_id).numpy()
    mask = ref["attention_mask"].astype(bool)
    np.testing.assert_allclose(
        hidden[mask], ref["text_last_hidden_state"][mask], atol=ATOL, rtol=RTOL
    )


def test_lora_adapter_is_merged(fp32, ref):
    # The adapter visibly moves the output: without it the reference gives other vectors.
    assert np.abs(ref["text_embeds_raw"] - ref["text_embeds_raw_nolora"]).max() > 1e-2
    np.testing.assert_allclose(
        _text(fp32, ref["input_ids"]), ref["text_embeds_raw"], atol=ATOL, rtol=RTOL
    )


def test_task_query_embeddings(fp32, ref):
    raw = _text(fp32, ref["input_ids_task_query"])
    normed = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(normed, ref["text_embeds_task_query"], atol=ATOL, rtol=RTOL)


def test_image_embeddings_raw(fp32, ref):
    np.testing.assert_allclose(
        _image(fp32, ref["pixel_values"]), ref["image_embeds_raw"], atol=ATOL, rtol=RTOL
    )


def test_logits(fp32, ref):
    text = _text(fp32, ref["input_ids"])
    image = _image(fp32, ref["pixel_values"])
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    image /= np.linalg.norm(image, axis=1, keepdims=True)
    scale = float(fp32.model.logit_scale.exp())
    assert scale == pytest.approx(float(ref["logit_scale_exp"]), rel=1e-6)
    np.testing.assert_allclose(text @ image.T * scale, ref["logits_per_text"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("native", [False, True], ids=["weights-bf16", "compute-bf16"])
def test_bfloat16_cosine(ref, native):
    bf16 = build(V2, _config(), torch.device("cpu"), torch.bfloat16)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    if native:
        bf16.model.set_compute_dtype(torch.bfloat16)
        bf16.compute_dtype = torch.bfloat16
    for got, want in (
        (_text(bf16, ref["input_ids"]), ref["text_embeds"]),
        (_image(bf16, ref["pixel_values"]), ref["image_embeds"]),
    ):
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
        cosines = np.sum(got * want, axis=1)
        assert cosines.min() >= 0.999, cosines


def test_lora_keys_must_be_complete(tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "broken"
    shutil.copytree(V2, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    weights = load_file(folder / "model.safetensors")
    stem = "text_model.transformer.roberta.encoder.layers.1.mlp.fc2.parametrizations.weight.0."
    del weights[stem + "lora_B"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    missing = r"missing keys .*layers\.1\.mlp\.fc2\.parametrizations\.weight\.0\.lora_B"
    with pytest.raises(ModelLoadError, match=missing):
        build(folder, _config(), torch.device("cpu"), torch.float32)


def test_bf16_file_loads_as_bf16_with_the_lora_merged_in_float32(tmp_path, ref):
    """A 16-bit checkpoint (like the real one) loaded as bf16: merged once in float32, rounded."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "bf16"
    shutil.copytree(V2, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v.to(torch.bfloat16) for k, v in weights.items()}, folder / "model.safetensors")
    as_bf16 = build(folder, _config(), torch.device("cpu"), torch.bfloat16)
    as_fp32 = build(folder, _config(), torch.device("cpu"), torch.float32)
    key = "text_model.transformer.roberta.embeddings.word_embeddings.weight"
    for name, param in as_bf16.model.state_dict().items():
        assert param.dtype == torch.bfloat16, name
        # The same float32 merge, rounded once: bit-identical to merging the fp32 copy.
        assert torch.equal(param, as_fp32.model.state_dict()[name].to(torch.bfloat16)), name
    original = weights[key.replace(".weight", ".parametrizations.weight.original")]
    assert not torch.equal(as_bf16.model.state_dict()[key], original.to(torch.bfloat16))
    got = _text(as_bf16, ref["input_ids"])
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    assert np.sum(got * ref["text_embeds"], axis=1).min() >= 0.999
