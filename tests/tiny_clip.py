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


SIGLIP_TEXT_LENGTH = 16  # SigLIP pads every text to its full length (64 in the real models)
_SP_TRAINING_TEXT = [
    "the cat sat on the mat",
    "a dog ate the hat",
    "photos of galaxies and rockets at night",
    "a cup of coffee on a red saucer",
    "ancient greek coins on a dark cloth",
    "a brick wall and green grass",
]


def save_tiny_siglip(folder: Path) -> Path:
    """A tiny random SiglipModel with a SentencePiece model trained here on six sentences."""
    import io

    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SP_TRAINING_TEXT * 20),
        model_writer=model_bytes,
        vocab_size=64,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    (folder / "spiece.model").write_bytes(model_bytes.getvalue())
    tokenizer = transformers.SiglipTokenizer(
        vocab_file=str(folder / "spiece.model"), model_max_length=SIGLIP_TEXT_LENGTH
    )
    config = transformers.SiglipConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": SIGLIP_TEXT_LENGTH,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "image_size": SIZE,
            "patch_size": 6,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
    )
    torch.manual_seed(1)
    model = transformers.SiglipModel(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor_class = (
        getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
    )
    processor_class(size={"height": SIZE, "width": SIZE}).save_pretrained(folder)
    return folder
