"""Build a transformers ``CLIPModel`` checkpoint as a :class:`~clipbridge.models.LoadedModel`.

The model is transformers' own ``CLIPModel`` (``get_text_features`` / ``get_image_features``);
the tokenizer is the checkpoint's ``tokenizer.json``; the image settings of
``preprocessor_config.json`` are translated into the keys
:class:`~clipbridge.images.PreprocessSpec` reads, and settings our loader cannot reproduce
exactly are refused with a clear error instead of being approximated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ...errors import ModelLoadError
from ...images import CLIP_MEAN, CLIP_STD
from ..base import LoadedModel
from ..files import compute_dtype_for, read_json

__all__ = ["ClipEncoder", "build", "preprocessor_settings"]

_BICUBIC = 3  # PIL.Image.Resampling.BICUBIC, transformers' ``resample``


def _square(value: Any, what: str, where: Path) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
        if value.get("height") == value.get("width") and value.get("height"):
            return int(value["height"])
    raise ModelLoadError(f"{where}: {what} {value!r} is not a square or shortest-edge size")


def preprocessor_settings(data: dict[str, Any], where: Path) -> dict[str, Any]:
    """transformers ``CLIPImageProcessor`` settings -> what ``PreprocessSpec`` reads.

    CLIP: bicubic resize of the shorter side, centre crop (offsets floored), x/255, mean/std.
    """
    size = data.get("size", 224)
    if isinstance(size, dict) and "shortest_edge" not in size:
        raise ModelLoadError(
            f"{where}: resizing to {size!r} without keeping the aspect ratio is not supported"
        )
    shortest = _square(size, "size", where)
    crop = _square(data.get("crop_size", shortest), "crop_size", where)
    problems = []
    if not data.get("do_resize", True) or not data.get("do_center_crop", True):
        problems.append("do_resize/do_center_crop must be true")
    if crop != shortest:
        problems.append(f"crop_size {crop} differs from the resize size {shortest}")
    spec = {
        "resize_mode": "shortest",
        "size": shortest,
        "crop_rounding": "floor",  # transformers' center_crop: (size - crop) // 2
    }
    return image_spec(data, where, problems, spec, CLIP_MEAN, CLIP_STD)


def image_spec(
    data: dict[str, Any],
    where: Path,
    problems: list[str],
    spec: dict[str, Any],
    mean: Sequence[float],
    std: Sequence[float],
) -> dict[str, Any]:
    """``spec`` with the normalization of a transformers image processor's ``data`` (``mean`` /
    ``std``: the processor's defaults), after the checks every processor shares (bicubic, x/255);
    ``problems`` (the processor's own, then these) are refused in one error."""
    if data.get("resample", _BICUBIC) != _BICUBIC:
        problems.append(f"resample {data.get('resample')!r} is not bicubic (3)")
    if data.get("do_rescale", True) and not math.isclose(
        float(data.get("rescale_factor", 1 / 255)), 1 / 255
    ):
        problems.append(f"rescale_factor {data.get('rescale_factor')!r} is not 1/255")
    if problems:
        raise ModelLoadError(f"{where}: unsupported image settings: {'; '.join(problems)}")
    if data.get("do_normalize", True):
        mean, std = data.get("image_mean", mean), data.get("image_std", std)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return {**spec, "mean": list(mean), "std": list(std)}


def check_image_size(
    preprocessor: dict[str, Any], config: dict[str, Any], folder: Path, verb: str
) -> None:
    """The processor's output size must be the vision tower's input size."""
    vision_size = (config.get("vision_config") or {}).get("image_size", 224)
    if preprocessor["size"] != vision_size:
        raise ModelLoadError(
            f"{folder}: preprocessor {verb} to {preprocessor['size']} but the vision tower "
            f"expects {vision_size}"
        )


def load_pretrained(
    model_class: Any, what: str, folder: Path, device: torch.device, dtype: torch.dtype
) -> tuple[torch.nn.Module, torch.dtype]:
    """A transformers model from ``folder`` (local files only) and the dtype it computes in.

    Where the CPU cannot compute in half precision, the weights are loaded in float32.
    """
    compute = compute_dtype_for(device, dtype)
    try:
        model = model_class.from_pretrained(
            str(folder), dtype=compute, local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the {what} model in {folder}: {exc}") from exc
    return model, compute


class ClipEncoder(torch.nn.Module):
    """``encode_text`` / ``encode_image`` over a transformers ``CLIPModel`` (raw projections).

    Texts arrive padded with the end token: the text tower is causal and pools at the first end
    token (or, for configs from before transformers PR #24773, at the highest id), so padding
    after it changes nothing.
    """

    family = "clip"

    def __init__(self, model: torch.nn.Module, pad_id: int) -> None:
        super().__init__()
        self.model = model
        self.pad_id = pad_id

    @property
    def dimension(self) -> int:
        return int(self.model.config.projection_dim)

    @staticmethod
    def _features(out: Any) -> torch.Tensor:
        # transformers 5 returns a model output with the projection in pooler_output; 4.x a tensor
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._features(self.model.get_text_features(input_ids=input_ids))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._features(self.model.get_image_features(pixel_values=pixels))


def build(
    folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """A ready CLIP model from ``folder`` (``config`` is its parsed ``config.json``)."""
    try:
        import transformers
    except ImportError as exc:
        raise ModelLoadError(
            "CLIP checkpoints run through transformers: pip install 'clipbridge[local]'"
        ) from exc
    from tokenizers import Tokenizer

    preprocessor = preprocessor_settings(
        read_json(folder / "preprocessor_config.json"), folder / "preprocessor_config.json"
    )
    check_image_size(preprocessor, config, folder, "crops")
    model, compute = load_pretrained(transformers.CLIPModel, "CLIP", folder, device, dtype)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    end = tokenizer.encode("").ids  # [start, end]: the post-processor's special tokens
    if not end:
        raise ModelLoadError(f"{folder / 'tokenizer.json'} adds no end token to a text")
    # pad with the end token, as OpenAI's tokenizer does
    return ready(ClipEncoder(model, end[-1]), tokenizer, preprocessor, folder, device, compute)


def ready(
    encoder: ClipEncoder,
    tokenizer: Any,
    preprocessor: dict[str, Any],
    folder: Path,
    device: torch.device,
    compute: torch.dtype,
) -> LoadedModel:
    """The :class:`LoadedModel` of a transformers model in ``encoder`` (computing in
    ``compute``, its weights' dtype), limited to its text tower's positions."""
    text = encoder.model.config.text_config
    return LoadedModel(
        model=encoder.to(device).eval().requires_grad_(False),
        tokenizer=tokenizer,
        preprocessor=preprocessor,
        folder=folder,
        device=device,
        dtype=compute,
        compute_dtype=compute,
        family=encoder.family,
        dimension=encoder.dimension,
        pad_token_id=encoder.pad_id,
        max_text_length=int(text.max_position_embeddings),
    )
