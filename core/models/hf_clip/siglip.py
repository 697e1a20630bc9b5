"""Build a transformers ``SiglipModel`` checkpoint (``model_type`` ``"siglip"``).

What differs from CLIP, each reproduced as transformers' own processor and model do it:

- the tokenizer is SentencePiece (``spiece.model``, transformers' ``SiglipTokenizer``: lower-cased,
  an end token appended) and is used through a small ``encode_batch`` adapter;
- the text tower pools the *last* position after padding to its 64 positions, without an
  attention mask, so :class:`SiglipEncoder` pads every batch to the full length itself;
- images are squashed to ``size`` x ``size`` (bicubic, no crop) with mean/std 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import ModelLoadError
from ..base import LoadedModel
from ..files import read_json
from .loader import ClipEncoder, check_image_size, image_spec, load_pretrained, ready

__all__ = ["SiglipEncoder", "SpTokenizer", "build", "preprocessor_settings"]


def preprocessor_settings(data: dict[str, Any], where: Path) -> dict[str, Any]:
    """transformers ``SiglipImageProcessor`` settings -> what ``PreprocessSpec`` reads."""
    size = data.get("size", {"height": 224, "width": 224})
    side = size if isinstance(size, int) else size.get("height")
    problems = []
    if not isinstance(side, int) or (isinstance(size, dict) and size.get("width") != side):
        problems.append(f"size {size!r} is not a square")
    if not data.get("do_resize", True) or data.get("do_center_crop", False):
        problems.append("expected a plain resize (do_resize true, no centre crop)")
    spec = {"resize_mode": "squash", "size": side}
    return image_spec(data, where, problems, spec, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class _Encoding:
    ids: list[int]


class SpTokenizer:
    """The ``encode`` / ``encode_batch`` surface of a ``tokenizers.Tokenizer`` over a
    transformers SentencePiece tokenizer: special tokens added, no padding, no truncation."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> _Encoding:
        return _Encoding(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[_Encoding]:
        ids = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return [_Encoding(list(row)) for row in ids]


class SiglipEncoder(ClipEncoder):
    """``encode_text`` / ``encode_image`` over a transformers ``SiglipModel``.

    SigLIP was trained on texts padded to ``length`` and pools the last position, so each batch
    is padded to exactly that many positions with ``pad_id`` before the text tower sees it.
    """

    family = "siglip"

    def __init__(self, model: torch.nn.Module, length: int, pad_id: int) -> None:
        super().__init__(model, pad_id)
        self.length = length

    @property
    def dimension(self) -> int:
        text = self.model.config.text_config
        return int(getattr(text, "projection_size", None) or text.hidden_size)

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        extra = self.length - input_ids.shape[1]
        if extra > 0:
            input_ids = torch.nn.functional.pad(input_ids, (0, extra), value=self.pad_id)
        return super().encode_text(input_ids)


def build(
    folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """A ready SigLIP model from ``folder`` (``config`` is its parsed ``config.json``)."""
    try:
        import transformers

        slow = transformers.SiglipTokenizer.from_pretrained(str(folder), local_files_only=True)
    except ImportError as exc:
        raise ModelLoadError(
            "SigLIP checkpoints need transformers, sentencepiece and protobuf: "
            "pip install 'clipbridge[local]'"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the SigLIP tokenizer in {folder}: {exc}") from exc
    where = folder / "preprocessor_config.json"
    preprocessor = preprocessor_settings(read_json(where), where)
    check_image_size(preprocessor, config, folder, "resizes")
    model, compute = load_pretrained(transformers.SiglipModel, "SigLIP", folder, device, dtype)
    length = int(model.config.text_config.max_position_embeddings)
    encoder = SiglipEncoder(model, length, int(slow.pad_token_id))
    return ready(encoder, SpTokenizer(slow), preprocessor, folder, device, compute)
