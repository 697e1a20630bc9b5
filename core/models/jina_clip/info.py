"""What a jina-clip-v1 checkpoint says besides its weights (no torch): :func:`describe`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ModelLoadError
from ..base import ModelInfo
from ..hub import read_json
from .config import JinaClipConfig, TwoTowerConfig

__all__ = ["describe", "jina_info", "load_tokenizer", "parse_config"]


def parse_config(folder: Path, config: dict[str, Any]) -> JinaClipConfig:
    """``config`` (the folder's parsed ``config.json``) as a :class:`JinaClipConfig`."""
    try:
        return JinaClipConfig.from_dict(config)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / 'config.json'}: {exc}") from exc


def load_tokenizer(path: Path) -> Any:
    """The BERT tokenizer: special tokens added, no padding, no truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def jina_info(
    folder: Path, family: str, parsed: TwoTowerConfig, tokenizer: Any, **more: Any
) -> ModelInfo:
    """What every jina-clip checkpoint in ``folder`` says (``more``: the fields a family adds)."""
    return ModelInfo(
        tokenizer=tokenizer,
        preprocessor=read_json(folder / "preprocessor_config.json"),
        folder=folder,
        family=family,
        dimension=parsed.embed_dim,
        pad_token_id=parsed.text.pad_token_id,
        **more,
    )


def describe(
    folder: Path, config: dict[str, Any], parsed: JinaClipConfig | None = None
) -> ModelInfo:
    """The tokenizer, image settings and widths of the jina-clip-v1 checkpoint in ``folder``."""
    parsed = parsed or parse_config(folder, config)
    return jina_info(folder, "jina-clip-v1", parsed, load_tokenizer(folder / "tokenizer.json"))
