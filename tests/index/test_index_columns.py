"""What an index row holds besides its vector: text, image path and size, PDF page, carried
columns; and what ``--meta-column`` refuses before the model loads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import clipbridge.embedder
from clipbridge import ClipBridgeError, Embedder
from clipbridge.cli import main
from clipbridge.index import read_index, run_index
from clipbridge.index.output import index_schema

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"


def _rows(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in pq.read_table(path).to_pylist()}


@pytest.fixture
def embedder(tiny_model_path) -> Embedder:
    return Embedder(tiny_model_path)


def test_text_rows_hold_their_text(tmp_path, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("first line\n\n  indented, kept as written\n", encoding="utf-8")
    run_index(["notes.txt"], "notes.parquet", kind="text", embedder=embedder, show_progress=False)
    rows = _rows(Path("notes.parquet"))
    assert {i: r["text"] for i, r in rows.items()} == {
        "notes.txt#line=1": "first line",
        "notes.txt#line=3": "  indented, kept as written",
    }
    assert all(
        r["path"] is None and r["width"] is None and r["page"] is None for r in rows.values()
    )


def test_image_rows_hold_their_absolute_path_and_size(tmp_path, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(IMAGES, "photos")
    # EXIF orientation 6 (rotated 90°): the model sees it 30 wide and 20 high
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (20, 30), "red").save("photos/turned.jpg", exif=exif)
    (Path("photos") / "broken.png").write_bytes(b"not an image")
    run_index(["photos"], "photos.parquet", embedder=embedder, show_progress=False)
    rows = _rows(Path("photos.parquet"))
    sizes = {Path(i).name: (r["width"], r["height"]) for i, r in rows.items()}
    assert sizes == {
        "gray_tall_50x70.png": (50, 70),
        "rgb_square_64.png": (64, 64),
        "rgb_wide_96x48.jpg": (96, 48),
        "rgba_40.png": (40, 40),
        "turned.jpg": (30, 20),
        "broken.png": (None, None),  # an error row: no size
    }
    for item_id, row in rows.items():
        assert row["path"] == os.path.join(str(tmp_path), item_id) and row["text"] is None
    assert rows["photos/broken.png"]["error"] and rows["photos/broken.png"]["embedding"] is None


def test_pdf_pages_hold_their_page_and_rendered_size(tmp_path, embedder):
    from clipbridge.pdf import render_pdf_page

    pdf = tmp_path / "doc.pdf"
    first, second = Image.new("RGB", (40, 20), "red"), Image.new("RGB", (30, 50), "blue")
    first.save(pdf, save_all=True, append_images=[second], resolution=72.0)
    out = tmp_path / "pdf.parquet"
    run_index([pdf], out, embedder=embedder, show_progress=False)
    rows = _rows(out)
    for page in (1, 2):
        row = rows[f"{pdf}#page={page}"]
        rendered = render_pdf_page(pdf, page, 0)
        assert (row["page"], row["width"], row["height"]) == (page, *rendered.size)
        assert row["path"] == str(pdf)


def test_meta_columns_of_jsonl_and_parquet(tmp_path, embedder):
    jsonl = tmp_path / "a.jsonl"
    lines = [
        {"text": "one", "year": 2021, "tag": "x", "mixed": 1},
        {"text": "two", "year": 2022, "mixed": "b"},  # no tag: null
        {"year": 2023, "tag": "z", "mixed": [1, 2]},  # no text: an error row, its values kept
    ]
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    table = pa.table({"body": ["three"], "year": [1999], "tag": ["p"], "mixed": ["c"]})
    parquet = tmp_path / "b.parquet"
    pq.write_table(table, parquet)
    out = tmp_path / "out.parquet"
    args = [str(jsonl), "--kind", "text", "--out", str(out), "--no-progress"]
    meta = ["--meta-column", "year", "--meta-column", "tag", "--meta-column", "mixed"]
    assert main(["index", *args, *meta, "--model", embedder.model]) == 0
    schema = pq.read_schema(out)
    assert schema.names[-3:] == ["year", "tag", "mixed"]
    assert schema.field("year").type == pa.int64() and schema.field("mixed").type == pa.string()
    rows = list(_rows(out).values())
    assert [(r["text"], r["year"], r["tag"], r["mixed"]) for r in rows] == [
        ("one", 2021, "x", "1"),
        ("two", 2022, None, "b"),
        (None, 2023, "z", "[1, 2]"),
    ]
    assert rows[2]["error"] is not None
    out2 = tmp_path / "out2.parquet"
    run_index(
        [parquet], out2, kind="text", text_column="body", meta_columns=["year", "tag"],
        embedder=embedder, show_progress=False,
    )  # fmt: skip
    (row,) = _rows(out2).values()
    assert (row["text"], row["year"], row["tag"]) == ("three", 1999, "p")


@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an Embedder was built")

    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", refuse)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--meta-column", "text"], "--meta-column text: clipbridge index writes a 'text' column"),
        (["--meta-column", "width"], "writes a 'width' column itself"),
        (["--meta-column", "nope"], "no column 'nope' for --meta-column"),
        (["--kind", "image", "--meta-column", "year"], "use --kind text"),
    ],
)
def test_meta_column_mistakes_stop_before_the_model(
    tmp_path, no_model_load, capsys, extra, message
):
    source = tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": ["three"], "year": [1999]}), source)
    kind = [] if "--kind" in extra else ["--kind", "text"]
    argv = ["index", str(source), "--out", str(tmp_path / "o.parquet"), *kind, *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.parquet").exists()


def test_resume_fills_new_columns_of_an_older_file(tmp_path, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("alpha\nbeta\n", encoding="utf-8")
    run_index(["notes.txt"], "notes.parquet", kind="text", embedder=embedder, show_progress=False)
    old = pq.read_table("notes.parquet")  # as written before text, path, page, ... existed
    old = old.select(["id", "source", "kind", "embedding", "error"]).slice(0, 1)
    pq.write_table(old.replace_schema_metadata(old.schema.metadata), "notes.parquet")
    summary = run_index(
        ["notes.txt"],
        "notes.parquet",
        kind="text",
        embedder=embedder,
        resume=True,
        show_progress=False,
    )
    assert (summary.done, summary.skipped) == (1, 1)
    rows = _rows(Path("notes.parquet"))
    assert [r["text"] for r in rows.values()] == [None, "beta"]  # the old row has no text


def test_resume_with_other_meta_columns_is_refused(tmp_path, embedder):
    source = tmp_path / "a.jsonl"
    source.write_text('{"text": "one", "year": 1}\n', encoding="utf-8")
    out = tmp_path / "out.parquet"
    run_index(
        [source], out, kind="text", meta_columns=["year"], embedder=embedder, show_progress=False
    )
    with pytest.raises(ClipBridgeError, match="carries the columns year; resume with the same"):
        run_index([source], out, kind="text", embedder=embedder, resume=True, show_progress=False)


def test_read_index_checks_the_file(tmp_path, embedder):
    with pytest.raises(ClipBridgeError, match="no index file"):
        read_index(tmp_path / "none.parquet")
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "plain.parquet")
    with pytest.raises(ClipBridgeError, match="was not written by clipbridge index"):
        read_index(tmp_path / "plain.parquet")
    schema = index_schema(embedder.dimension, embedder.config)
    pq.write_table(schema.empty_table(), tmp_path / "empty.parquet")
    table = read_index(tmp_path / "empty.parquet")
    assert table.num_rows == 0 and table.schema.metadata[b"clipbridge.dimension"] == b"96"
