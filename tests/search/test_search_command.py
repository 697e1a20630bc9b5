"""``clipbridge search``: the nearest rows of an index, numpy's ranking, and the CLI contract.

Indexes are built by the real ``clipbridge index`` command on the tiny model. Every expected
ranking is numpy's over the Parquet file read with pyarrow alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clipbridge.embedder
from clipbridge import Embedder
from clipbridge.cli import main
from clipbridge.config import QUERY_TASK
from clipbridge.search import nearest, search_index
from clipbridge.search.command import same_model

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
TEXTS = ["A stone bridge at dusk.", "a red square", "minutes of the harbour board", "a gray tower"]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, tiny_model_path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("search")
    photos = folder / "photos"
    shutil.copytree(IMAGES, photos)
    (photos / "broken.png").write_bytes(b"not an image")
    notes = folder / "notes.txt"
    notes.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = {"image": folder / "photos.parquet", "text": folder / "notes.parquet"}
    common = ["--model", tiny_model_path, "--no-progress"]
    assert main(["index", str(photos), "--out", str(out["image"]), *common]) == 0
    assert main(["index", str(notes), "--kind", "text", "--out", str(out["text"]), *common]) == 0
    return out


def _numpy_ranking(path: Path, query: np.ndarray) -> tuple[list[str], np.ndarray]:
    rows = [r for r in pq.read_table(path).to_pylist() if r["error"] is None]
    matrix = np.array([r["embedding"] for r in rows], dtype=np.float32)
    scores = matrix @ query
    order = np.argsort(-scores)
    return [rows[i]["id"] for i in order], scores[order]


def _search(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["search", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if anything builds an Embedder (a mistake must stop before the model)."""

    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", _refuse)


def _refuse(*args, **kwargs):
    raise AssertionError("an Embedder was built")


def test_text_query_prints_numpys_top_k(indexes, tiny_model_path, capsys):
    query = Embedder(tiny_model_path).embed_texts(["a red photo"], task=QUERY_TASK)[0]
    for path in indexes.values():
        code, out, _ = _search(capsys, str(path), "a red photo", "--top-k", "3", "--json")
        assert code == 0
        hits = [json.loads(line) for line in out.splitlines()]
        ids, scores = _numpy_ranking(path, query)
        assert [h["id"] for h in hits] == ids[:3]
        np.testing.assert_allclose([h["score"] for h in hits], scores[:3], atol=1e-5)
    code, out, _ = _search(capsys, str(indexes["text"]), "a red photo", "--top-k", "2")
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "1"
    ids, scores = _numpy_ranking(indexes["text"], query)
    assert lines[0].split()[1:3] == [f"{scores[0]:.4f}", ids[0]]


def test_text_rows_show_their_text_and_images_their_path(indexes, capsys):
    _, out, _ = _search(capsys, str(indexes["text"]), "bridge", "--top-k", "4", "--json")
    hits = [json.loads(line) for line in out.splitlines()]
    assert sorted(h["text"] for h in hits) == sorted(TEXTS)
    assert all(h["kind"] == "text" and "path" not in h for h in hits)
    _, out, _ = _search(capsys, str(indexes["text"]), "bridge", "--top-k", "4")
    assert {line.rsplit("  ", 1)[-1] for line in out.splitlines()} == set(TEXTS)
    _, out, _ = _search(capsys, str(indexes["image"]), "bridge", "--top-k", "9", "--json")
    hits = [json.loads(line) for line in out.splitlines()]
    assert len(hits) == 4  # the broken file is an error row, never a hit
    assert all(Path(h["path"]).is_file() and h["kind"] == "image" for h in hits)


def test_image_query_finds_itself_first(indexes, capsys):
    image = IMAGES / "rgb_square_64.png"
    code, out, _ = _search(capsys, str(indexes["image"]), "--image", str(image), "--json")
    assert code == 0
    first = json.loads(out.splitlines()[0])
    assert first["id"].endswith("rgb_square_64.png") and first["score"] == pytest.approx(
        1, abs=1e-5
    )


def test_the_model_may_be_named_by_another_path(indexes, tiny_model_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = str(Path(tiny_model_path).relative_to(ROOT))
    code, out, _ = _search(capsys, str(indexes["text"]), "x", "--model", relative, "--top-k", "1")
    assert code == 0 and len(out.splitlines()) == 1


def test_same_model():
    assert same_model("jinaai/jina-clip-v1", "jina-clip-v1")
    assert same_model("jina-clip-v2", "jinaai/jina-clip-v2")
    assert not same_model("jinaai/jina-clip-v1", "jinaai/jina-clip-v2")
    assert same_model(
        str(ROOT / "tests" / "fixtures"), str(ROOT / "tests" / ".." / "tests/fixtures")
    )
    assert not same_model(str(ROOT / "tests"), str(ROOT / "tests" / "fixtures"))
    tiny = ROOT / "tests" / "fixtures" / "tiny-jina-clip-v1"
    # indexed elsewhere (a path that is no folder here), searched with this machine's copy
    assert same_model("/elsewhere/models/tiny-jina-clip-v1", str(tiny))
    assert not same_model("/elsewhere/models/tiny-jina-clip-v2", str(tiny))
    assert not same_model("jinaai/jina-clip-v1", str(tiny))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a query text or --image PATH"),
        (["a cat", "--image", "x.png"], "give a query text or --image PATH, not both"),
        (["a cat", "--model", "jinaai/jina-clip-v2"], "holds vectors of "),
        (["--image", "nowhere.png"], "no image file 'nowhere.png'"),
    ],
)
def test_mistakes_stop_before_the_model_loads(indexes, no_model_load, capsys, argv, message):
    code, out, err = _search(capsys, str(indexes["image"]), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_a_missing_or_foreign_file_is_refused(tmp_path, no_model_load, capsys):
    code, _, err = _search(capsys, str(tmp_path / "none.parquet"), "a cat")
    assert code == 2 and "no index file" in err
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "other.parquet")
    code, _, err = _search(capsys, str(tmp_path / "other.parquet"), "a cat")
    assert code == 2 and "was not written by clipbridge index" in err
    (tmp_path / "text.parquet").write_text("id,text\n")
    code, _, err = _search(capsys, str(tmp_path / "text.parquet"), "a cat")
    assert code == 2 and "is not a Parquet file" in err
    code, _, err = _search(capsys, str(tmp_path), "a cat")
    assert code == 2 and "is a folder" in err


def test_an_index_of_error_rows_only_is_refused(tmp_path, tiny_model_path, capsys, monkeypatch):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    out = tmp_path / "bad.parquet"
    assert main(["index", str(tmp_path / "bad.png"), "--out", str(out), "--model", tiny_model_path,
                 "--no-progress"]) == 1  # fmt: skip
    capsys.readouterr()
    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", _refuse)
    code, out_, err = _search(capsys, str(out), "a cat")
    assert code == 2 and out_ == "" and "holds no vectors: its 1 rows are error rows" in err


def test_top_k_must_be_positive(indexes, no_model_load, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["search", str(indexes["text"]), "x", "--top-k", "0"])
    assert exit_.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


def test_a_model_of_another_width_is_refused(indexes, tmp_path, capsys):
    table = pq.read_table(indexes["text"])
    meta = {**table.schema.metadata, b"clipbridge.dimension": b"32"}
    narrow = tmp_path / "narrow.parquet"
    pq.write_table(table.replace_schema_metadata(meta), narrow)
    code, out, err = _search(capsys, str(narrow), "a cat")
    assert code == 2 and out == ""
    assert "holds 32-d vectors" in err and "makes 96-d vectors" in err


def test_search_index_and_nearest(indexes, tiny_model_path):
    embedder = Embedder(tiny_model_path)
    hits = search_index(indexes["text"], embedder, text="a red photo", top_k=2)
    query = embedder.embed_texts(["a red photo"], task=QUERY_TASK)[0]
    assert [h.id for h in hits] == _numpy_ranking(indexes["text"], query)[0][:2]
    with pytest.raises(ValueError, match="a text or an image"):
        search_index(indexes["text"], embedder)
    matrix = np.array([[1, 0], [0, 2], [1, 1]], dtype=np.float32)  # cosine, not dot product
    order, scores = nearest(matrix, np.array([0.0, 1.0]), 2)
    assert order.tolist() == [1, 2] and scores == pytest.approx([1, 2**-0.5])
