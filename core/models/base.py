"""What every model family hands a backend: :class:`ModelInfo` (no torch), :class:`LoadedModel`
(the PyTorch model with it) and :class:`ModelFamily`.

Importing this module does not import torch: the ONNX backend reads a family's
:class:`ModelInfo` without it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["LoadedModel", "ModelFamily", "ModelInfo", "lazy_exports"]


@dataclass
class ModelInfo:
    """What a checkpoint says besides its weights: tokenizer, image settings, widths, limits.

    Every backend that runs a model family reads these (the PyTorch one through
    :class:`LoadedModel`, a ModelInfo with the module); none of them needs torch.

    Example::

        info = FAMILIES[0].describe(folder, read_json(folder / "config.json"))
        info.dimension, info.tokenizer.encode("a cat").ids
    """

    tokenizer: Any  # tokenizers.Tokenizer: adds special tokens, no padding, no truncation
    preprocessor: dict[str, Any]  # preprocessor_config.json
    folder: Path
    family: str
    dimension: int
    pad_token_id: int
    max_text_length: int | None = None  # the model's own token limit (77 for CLIP)
    task_instructions: dict[str, str] = field(default_factory=dict)
    # widths the model was trained to be cut to (config.json ``matryoshka_dimensions``); empty:
    # only the full width is meaningful
    matryoshka_dimensions: tuple[int, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The fields as keywords (``LoadedModel(model=..., **info.fields())``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(kw_only=True)
class LoadedModel(ModelInfo):
    """A ready model with its tokenizer and preprocessing settings, whatever its family: its
    :class:`ModelInfo` plus the PyTorch module.

    ``model.encode_text(input_ids)`` takes a padded ``LongTensor (B, T)`` (padding recognised
    from ``pad_token_id``) and ``model.encode_image(pixels)`` a ``(B, 3, S, S)`` tensor in
    ``compute_dtype``; both return raw (unnormalized) ``(B, dimension)`` vectors.
    """

    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype
    compute_dtype: torch.dtype  # the activations' dtype; differs from ``dtype`` on some CPUs

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


Builder = Callable[[Path, dict[str, Any], "torch.device", "torch.dtype"], LoadedModel]
Describer = Callable[[Path, dict[str, Any]], ModelInfo]


@dataclass(frozen=True)
class ModelFamily:
    """One kind of checkpoint: how to recognise its ``config.json``, which files it needs, and
    where its builder lives (``"module:function"``, imported only when the family is chosen).

    Example::

        FAMILY = ModelFamily(
            name="jina-clip-v1",
            files=("model.safetensors", "tokenizer.json", "preprocessor_config.json"),
            matches=lambda config: config.get("model_type") == "jina_clip",
            builder="clipbridge.models.jina_clip.loader:build",
            describer="clipbridge.models.jina_clip.info:describe",
        )

    ``describer`` (torch-free) reads the :class:`ModelInfo`; a family without one runs only in
    PyTorch (the ONNX backend needs it).
    """

    name: str
    files: tuple[str, ...]  # besides config.json
    matches: Callable[[dict[str, Any]], bool]
    builder: str
    describer: str | None = None

    @property
    def info_files(self) -> tuple[str, ...]:
        """The files :meth:`describe` reads: ``files`` without the weights."""
        return tuple(name for name in self.files if name != "model.safetensors")

    def describe(self, folder: Path, config: dict[str, Any]) -> ModelInfo:
        if self.describer is None:
            raise ValueError(f"the {self.name} family has no torch-free description")
        module, _, function = self.describer.partition(":")
        describe: Describer = getattr(importlib.import_module(module), function)
        return describe(folder, config)

    def build(
        self, folder: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> LoadedModel:
        module, _, function = self.builder.partition(":")
        build: Builder = getattr(importlib.import_module(module), function)
        return build(folder, config, device, dtype)


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` that imports each name of ``where`` (name -> its submodule)
    on first use, so that importing the package, or a torch-free submodule, imports no torch.

    Example::

        __getattr__ = lazy_exports(__name__, {"JinaClipModel": ".model"})
    """

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)

    return __getattr__
