"""clipbridge.index.sources: what SOURCE arguments list, with stable ids."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipbridge.index import SourceError, list_items


def test_folder_lists_images_sorted_and_skips_other_files(tmp_path):
    for name in ("b.png", "a.jpg", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.webp").write_bytes(b"x")
    items = list(list_items([tmp_path], kind="image"))
    assert [i.id for i in items] == [str(tmp_path / n) for n in ("a.jpg", "b.png", "sub/c.webp")]
    assert {i.kind for i in items} == {"image"} and all(i.page is None for i in items)


def test_glob_and_missing_file_and_duplicates(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    missing = tmp_path / "gone.png"
    items = list(list_items([f"{tmp_path}/*.png", tmp_path / "a.png", missing], kind="image"))
    # a.png twice on the command line is listed once; a missing plain path is kept (error row later)
    assert [i.id for i in items] == [str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(missing)]


def test_a_glob_matching_nothing_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="matches no image file"):
        list(list_items([f"{tmp_path}/*.png"], kind="image"))


def test_pdf_pages_are_items(tmp_path):
    from PIL import Image

    pdf = tmp_path / "doc.pdf"
    Image.new("RGB", (30, 20), "red").save(
        pdf, save_all=True, append_images=[Image.new("RGB", (9, 9))]
    )
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-not really")
    items = list(list_items([tmp_path], kind="image"))
    assert [(i.id, i.page, i.error is None) for i in items] == [
        (f"{tmp_path}/broken.pdf#page=1", 1, False),
        (f"{pdf}#page=1", 1, True),
        (f"{pdf}#page=2", 2, True),
    ]
    assert "cannot open" in items[0].error


def test_texts_from_txt_jsonl_parquet(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("first line\n\n  \nthird line\n", encoding="utf-8")
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text(
        json.dumps({"text": "json one"})
        + "\n"
        + json.dumps({"body": "no text"})
        + "\n"
        + json.dumps({"text": 5})
        + "\n",
        encoding="utf-8",
    )
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["p0", None, "p2"], "n": [1, 2, 3]}), parquet)
    items = list(list_items([tmp_path], kind="text"))
    got = [(i.id.removeprefix(str(tmp_path) + "/"), i.text, i.error is not None) for i in items]
    assert got == [
        ("a.txt#line=1", "first line", False),
        ("a.txt#line=4", "third line", False),
        ("b.jsonl#line=1", "json one", False),
        ("b.jsonl#line=2", None, True),
        ("b.jsonl#line=3", None, True),
        ("c.parquet#row=0", "p0", False),
        ("c.parquet#row=1", None, True),
        ("c.parquet#row=2", "p2", False),
    ]


def test_text_column_option_and_wrong_files(tmp_path):
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": ["x"]}), parquet)
    assert [i.text for i in list_items([parquet], kind="text", text_column="body")] == ["x"]
    with pytest.raises(SourceError, match="no column 'text'"):
        list(list_items([parquet], kind="text"))
    (tmp_path / "d.csv").write_text("x\n")
    with pytest.raises(SourceError, match=r"\.txt \(a line each\), \.jsonl or \.parquet"):
        list(list_items([tmp_path / "d.csv"], kind="text"))
    missing = list(list_items([tmp_path / "nope.txt"], kind="text"))
    assert missing[0].error == f"file not found: {str(tmp_path / 'nope.txt')!r}"


def test_the_apps_import_ray_and_pyarrow_only_when_they_run():
    import subprocess
    import sys

    code = (
        "import sys, clipbridge.cli.main, clipbridge.index, clipbridge.ray; "
        "print(sorted(m for m in ('ray', 'pyarrow', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
