"""What a jina-clip-v2 checkpoint says besides its weights (no torch): :func:`describe`.

The text tower's sizes come from its base model's ``config.json`` (:func:`text_base_config`);
the query instruction is handed to the backends as ``task_instructions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ModelLoadError
from ..base import ModelInfo
from ..hub import hub_file, read_json
from ..jina_clip.info import jina_info
from .config import BASE_MODEL, JinaClipV2Config, shipped_base_config

__all__ = ["describe", "hub_cache_dir", "load_tokenizer", "parse_config", "text_base_config"]


def load_tokenizer(path: Path) -> Any:
    """The XLM-R tokenizer as the reference runs it: no padding, no truncation.

    The reference (Jina's code on transformers 5) rebuilds ``XLMRobertaTokenizer`` around the
    file's vocabulary with a whitespace split before the Metaspace step, so whitespace never
    becomes a token of its own: ``"documents: "`` (the query instruction before an empty query)
    ends in ``":"``, not in a lone ``"▁"`` as ``tokenizer.json``'s own pipeline would give.
    """
    from tokenizers import Tokenizer, pre_tokenizers

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always"),
        ]
    )
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def hub_cache_dir(folder: Path) -> Path | None:
    """The Hugging Face cache ``folder`` is a snapshot of, or None for a plain local folder.

    Hub downloads live in ``<cache>/models--<org>--<name>/snapshots/<revision>/``.
    """
    parts = folder.resolve().parts
    if len(parts) >= 4 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return Path(*parts[:-3])
    return None


def text_base_config(name: str, *, cache_dir: Path | None = None) -> dict[str, Any]:
    """The text tower's base config for a checkpoint (``hf_model_name_or_path`` = ``name``).

    For a model that came from the hub (``cache_dir`` is its cache) the base repo's own
    ``config.json`` is read: that one file, from the same cache, fetched into it only when it is
    not there and the hub answers. Otherwise, or when that fails, the shipped values of
    ``jinaai/jina-embeddings-v3`` apply (the only base jina-clip-v2 uses).
    """
    if cache_dir is not None:
        try:
            return read_json(hub_file(name, "config.json", cache_dir=str(cache_dir)))
        except ModelLoadError as exc:
            if name != BASE_MODEL:
                why = type(exc.__cause__ or exc).__name__
                raise ModelLoadError(
                    f"cannot get {name}/config.json, the text tower's base config ({why}); "
                    f"only {BASE_MODEL}'s values are shipped"
                ) from exc
    elif name != BASE_MODEL:
        raise ModelLoadError(
            f"the text tower's base model is {name!r}; a local folder can only use the shipped "
            f"{BASE_MODEL} config (load the checkpoint by its hub id to fetch {name}'s)"
        )
    return shipped_base_config()


def parse_config(
    folder: Path, config: dict[str, Any], base: dict[str, Any] | None = None
) -> JinaClipV2Config:
    """``config`` (the folder's ``config.json``) with its text tower's base config applied.

    ``base`` overrides the text tower's base config (default: :func:`text_base_config`).
    """
    if base is None:
        text_config = config.get("text_config") or {}
        name = text_config.get("hf_model_name_or_path") or BASE_MODEL
        base = text_base_config(name, cache_dir=hub_cache_dir(folder))
    try:
        return JinaClipV2Config.from_dict(config, base)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc


def describe(
    folder: Path, config: dict[str, Any], parsed: JinaClipV2Config | None = None
) -> ModelInfo:
    """The tokenizer, image settings, widths and instructions of the checkpoint in ``folder``."""
    parsed = parsed or parse_config(folder, config)
    return jina_info(
        folder,
        "jina-clip-v2",
        parsed,
        load_tokenizer(folder / "tokenizer.json"),
        max_text_length=parsed.text.max_position_embeddings,
        task_instructions=dict(parsed.text.task_instructions),
        matryoshka_dimensions=parsed.matryoshka_dimensions,
    )
