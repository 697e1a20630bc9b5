"""Text tower sizes from one place each: JinaBERT's config for v1, the base model's for v2."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from clipbridge.models.jina_clip.config import TextConfig
from clipbridge.models.jina_clip_v2.config import XlmRobertaConfig, shipped_base_config

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_v1_without_overrides_has_the_jina_bert_repos_sizes():
    repo = json.loads((FIXTURES / "jina-bert-flash-config.json").read_text())
    sizes = asdict(TextConfig.from_clip_text_config({}))
    assert sizes == {name: repo[name] for name in sizes}
    assert TextConfig.from_clip_text_config({}).head_dim == 64


def test_v2_takes_every_size_from_the_base_config():
    base = shipped_base_config()
    base["layer_norm_eps"] = 1e-6
    text = XlmRobertaConfig.from_clip_text_config({}, base)
    assert (text.hidden_size, text.num_hidden_layers, text.layer_norm_eps) == (1024, 24, 1e-6)
    assert text.lora_alpha == 1.0 and isinstance(text.lora_alpha, float)


def test_v2_base_config_without_a_size_is_refused_by_name():
    base = shipped_base_config()
    del base["hidden_size"], base["pad_token_id"]
    with pytest.raises(ValueError, match=r"^the text tower's config lacks \['hidden_size', "):
        XlmRobertaConfig.from_clip_text_config({}, base)
