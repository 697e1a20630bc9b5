"""A tiny random transformers CLIP checkpoint, built and saved on the spot (no hub).

Used by tests/core/test_hf_clip.py and the eval tests. The tokenizer is a byte-level BPE with
CLIP's conventions (``</w>`` word ends, the two special tokens last) built by hand.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

SIZE = 30  # the tiny vision tower's input
DIMENSION = 24


def image_processor_class():
    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


def tiny_tokenizer():
    """A byte-level BPE with CLIP's conventions (``</w>`` word ends, specials last)."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for ch in alphabet:
            vocab[ch + suffix] = len(vocab)
    merges = [("a", "t</w>"), ("c", "at</w>"), ("t", "h"), ("th", "e</w>"), ("o", "g</w>")]
    merges += [("d", "og</w>"), ("h", "at</w>"), ("m", "at</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=merges), len(vocab)


def save_tiny_clip(folder: Path, *, legacy_eos: bool = False) -> Path:
    tokenizer, vocab_size = tiny_tokenizer()
    end = tokenizer.eos_token_id
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            # checkpoints from before transformers PR #24773 say 2 and pool at the highest id
            "eos_token_id": 2 if legacy_eos else end,
            "bos_token_id": tokenizer.bos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "image_size": SIZE,
            "patch_size": 6,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=DIMENSION,
    )
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    with torch.no_grad():  # random init leaves some weights at exactly 0/1: make them count
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor = image_processor_class()(
        size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}
    )
    processor.save_pretrained(folder)
    return folder
