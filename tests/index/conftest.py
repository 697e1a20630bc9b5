"""Fixtures for the bulk-indexing tests: images with a bad file, a counting model hook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clipbridge import Embedder


@pytest.fixture
def image_folder(tmp_path, fixture_images) -> Path:
    """The four fixture images twice (a/ and b/) plus a corrupt one: 9 files."""
    folder = tmp_path / "photos"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
        for path in fixture_images:
            shutil.copy(path, folder / sub / path.name)
    (folder / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image at all")
    return folder


@pytest.fixture
def model_rows(monkeypatch, tiny_model_path):
    """Counts the rows that reach the model's image and text towers in this process."""
    counts = {"image": 0, "text": 0}
    model = Embedder(tiny_model_path).backend.loaded.model  # shared by every Embedder of it
    for kind, name in (("image", "encode_image"), ("text", "encode_text")):
        real = getattr(model, name)

        def counting(batch, _real=real, _kind=kind):
            counts[_kind] += int(batch.shape[0])
            return _real(batch)

        monkeypatch.setattr(model, name, counting)
    return counts
