"""A Hugging Face hub cache on disk, as ``hf_hub_download`` leaves it, for offline tests."""

from __future__ import annotations

import shutil
from pathlib import Path

REVISION = "0123456789abcdef0123456789abcdef01234567"


def save_snapshot(
    cache: Path, repo: str, files: dict[str, Path | str], revision: str = REVISION
) -> Path:
    """``<cache>/models--org--name/snapshots/<revision>/`` holding ``files`` (name -> a file to
    copy, or text), with ``refs/main`` pointing at it. Returns the snapshot folder."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        if isinstance(source, Path):
            shutil.copy(source, snapshot / name)
        else:
            (snapshot / name).write_text(source)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    return snapshot
