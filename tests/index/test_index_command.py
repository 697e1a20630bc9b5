"""``clipbridge index --engine local``: vectors, error rows, chunks, resume, read-back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipbridge import ClipBridgeError, Embedder
from clipbridge.cli import main
from clipbridge.index import run_index
from clipbridge.index.output import parts_dir, read_metadata

ROOT = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> dict[str, dict]:
    table = pq.read_table(path)
    return {row["id"]: row for row in table.to_pylist()}


def test_images_with_a_corrupt_and_a_missing_file(image_folder, tmp_path, tiny_model_path, capsys):
    out = tmp_path / "out.parquet"
    missing = tmp_path / "missing.jpg"
    code = main(
        [
            "index",
            str(image_folder),
            str(missing),
            "--out",
            str(out),
            "--model",
            tiny_model_path,
            "--chunk-size",
            "4",
            "--batch-size",
            "3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "indexed 8 done, 2 failed, 0 skipped" in printed.out and "items/s" in printed.out
    assert "Indexing images" in printed.err and "image/s" in printed.err  # the progress bar
    assert not parts_dir(out).exists()
    rows = _rows(out)
    assert len(rows) == 10
    corrupt = rows[str(image_folder / "a" / "corrupt.png")]
    assert corrupt["embedding"] is None and "not a recognized image format" in corrupt["error"]
    assert rows[str(missing)]["embedding"] is None
    assert rows[str(missing)]["error"] == f"file not found: {str(missing)!r}"
    good = sorted(i for i, r in rows.items() if r["error"] is None)
    expected = Embedder(tiny_model_path).embed_images(good)
    got = np.array([rows[i]["embedding"] for i in good], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert {r["kind"] for r in rows.values()} == {"image"}
    assert {r["source"] for r in rows.values()} == set(rows)  # one file, one image


def test_schema_and_metadata(image_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out.parquet"
    run_index([image_folder], out, embedder=Embedder(tiny_model_path), show_progress=False)
    schema = pq.read_schema(out)
    assert schema.names == [
        *("id", "source", "kind", "embedding", "error"),
        *("text", "path", "page", "width", "height"),
    ]
    assert schema.field("embedding").type == pa.list_(pa.float32(), 96)
    meta = read_metadata(out)
    assert meta["model"] == tiny_model_path and meta["dimension"] == 96
    assert meta["config"]["batch_size"] == 32 and "api_key" not in meta["config"]


def test_a_bad_item_costs_no_model_work_twice(image_folder, tmp_path, tiny_model_path, model_rows):
    # batch_size 2: the corrupt file sits inside a model batch; what came before it is kept
    emb = Embedder(tiny_model_path, batch_size=2)
    files = sorted((image_folder / "a").iterdir())
    summary = run_index(
        files, tmp_path / "o.parquet", embedder=emb, chunk_size=5, show_progress=False
    )
    assert (summary.done, summary.failed) == (4, 1)
    assert model_rows["image"] == 4


def test_texts_from_every_format_equal_embed_texts(tmp_path, tiny_model_path, fixture_texts):
    fixture_texts = [t for t in fixture_texts if t.strip()]  # a blank .txt line is no item
    (tmp_path / "t.txt").write_text("\n".join(fixture_texts[:3]) + "\n\n", encoding="utf-8")
    (tmp_path / "t.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in fixture_texts[3:]), encoding="utf-8"
    )
    pq.write_table(pa.table({"text": ["a parquet row", None]}), tmp_path / "t.parquet")
    out = tmp_path / "texts.parquet"
    code = main(
        [
            "index",
            str(tmp_path / "t.*"),
            "--kind",
            "text",
            "--out",
            str(out),
            "--model",
            tiny_model_path,
            "--no-progress",
        ]
    )
    assert code == 0
    rows = _rows(out)
    order = [f"{tmp_path}/t.txt#line={n}" for n in (1, 2, 3)]
    order += [f"{tmp_path}/t.jsonl#line={n + 1}" for n in range(len(fixture_texts) - 3)]
    order += [f"{tmp_path}/t.parquet#row=0"]
    texts = [*fixture_texts, "a parquet row"]
    expected = Embedder(tiny_model_path).embed_texts(texts)
    got = np.array([rows[i]["embedding"] for i in order], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert rows[f"{tmp_path}/t.parquet#row=1"]["error"] == "row 1: 'text' is NoneType, not a string"
    assert len(rows) == len(order) + 1


def test_pdf_pages(tmp_path, tiny_model_path):
    from PIL import Image

    from clipbridge.pdf import render_pdf_page

    pdf = tmp_path / "doc.pdf"
    Image.new("RGB", (60, 40), "red").save(
        pdf, save_all=True, append_images=[Image.new("RGB", (30, 50), "blue")], resolution=72.0
    )
    out = tmp_path / "pdf.parquet"
    run_index([pdf], out, embedder=Embedder(tiny_model_path), show_progress=False)
    rows = _rows(out)
    assert sorted(rows) == [f"{pdf}#page=1", f"{pdf}#page=2"]
    pages = [render_pdf_page(pdf, n, 0) for n in (1, 2)]
    expected = Embedder(tiny_model_path).embed_images(pages)
    got = np.array([rows[f"{pdf}#page={n}"]["embedding"] for n in (1, 2)], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_existing_out_needs_resume_or_overwrite(image_folder, tmp_path, tiny_model_path, capsys):
    out = tmp_path / "out.parquet"
    args = [
        "index",
        str(image_folder / "b"),
        "--out",
        str(out),
        "--model",
        tiny_model_path,
        "--no-progress",
    ]
    assert main(args) == 0
    assert main(args) == 2
    assert "exists: pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert "0 done, 0 failed, 4 skipped" in capsys.readouterr().out
    assert main(["index", str(image_folder / "a"), *args[2:], "--overwrite"]) == 0
    assert len(_rows(out)) == 5  # only a/: the overwrite dropped b/


def test_resume_refuses_another_model(image_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out.parquet"
    run_index([image_folder / "b"], out, embedder=Embedder(tiny_model_path), show_progress=False)
    table = pq.read_table(out)
    meta = dict(table.schema.metadata)
    meta[b"clipbridge.model"] = b"someone/else"
    pq.write_table(table.replace_schema_metadata(meta), out)
    with pytest.raises(ClipBridgeError, match="holds someone/else vectors"):
        run_index([image_folder], out, embedder=Embedder(tiny_model_path), resume=True)


# The run is made to hang inside its second chunk (a fault we cannot provoke otherwise), then is
# killed with SIGKILL: what it flushed must survive and --resume must embed only the rest.
HANG_AFTER_FIRST_CHUNK = """
import sys, threading
from clipbridge.index import pipeline
real, calls = pipeline.embed_items, []
def embed_items(embedder, items):
    calls.append(len(items))
    if len(calls) > 1:
        print("hanging", flush=True)
        threading.Event().wait()
    return real(embedder, items)
pipeline.embed_items = embed_items
from clipbridge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_run_then_resume_embeds_each_remaining_row_once(
    image_folder, tmp_path, tiny_model_path, model_rows
):
    out = tmp_path / "out.parquet"
    args = [
        str(image_folder),
        "--out",
        str(out),
        "--model",
        tiny_model_path,
        "--chunk-size",
        "3",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG_AFTER_FIRST_CHUNK, "index", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "hanging", proc.stderr.read()
        deadline = time.monotonic() + 60
        while not list(parts_dir(out).glob("part-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    parts = list(parts_dir(out).glob("part-*.parquet"))
    assert len(parts) == 1 and pq.read_table(parts[0]).num_rows == 3
    first = set(pq.read_table(parts[0]).column("id").to_pylist())

    summary = run_index(
        [image_folder], out, embedder=Embedder(tiny_model_path), resume=True, show_progress=False
    )
    assert summary.skipped == 3 and summary.done + summary.failed == 6
    rows = _rows(out)
    assert len(rows) == 9 and first < set(rows)
    # each remaining good image reached the model exactly once (the corrupt one never does)
    remaining_good = [i for i in rows if i not in first and rows[i]["error"] is None]
    assert model_rows["image"] == len(remaining_good) == summary.done
    good = sorted(i for i, r in rows.items() if r["error"] is None)
    got = np.array([rows[i]["embedding"] for i in good], dtype=np.float32)
    np.testing.assert_allclose(got, Embedder(tiny_model_path).embed_images(good), atol=1e-6)
    assert not parts_dir(out).exists()


def test_reads_back_with_pandas_and_lancedb(image_folder, tmp_path, tiny_model_path):
    import lancedb
    import pandas as pd

    out = tmp_path / "out.parquet"
    run_index([image_folder], out, embedder=Embedder(tiny_model_path), show_progress=False)
    frame = pd.read_parquet(out)
    assert len(frame) == 9 and frame["error"].notna().sum() == 1
    ok = frame[frame["error"].isna()]
    assert ok["embedding"].map(len).eq(96).all()

    table = pq.read_table(out).filter(pa.compute.is_null(pa.compute.field("error")))
    db = lancedb.connect(tmp_path / "lance")
    store = db.create_table("images", data=table.drop_columns(["error"]))
    query = np.asarray(ok["embedding"].iloc[2], dtype=np.float32)
    hits = store.search(query).metric("cosine").limit(2).to_list()
    assert hits[0]["id"] == ok["id"].iloc[2] or hits[0]["_distance"] < 1e-6
    assert hits[0]["_distance"] < 1e-5


def test_ray_options_need_the_ray_engine(image_folder, tmp_path, tiny_model_path, capsys):
    args = [
        "index",
        str(image_folder),
        "--out",
        str(tmp_path / "o.parquet"),
        "--model",
        tiny_model_path,
        "--ray-concurrency",
        "2",
    ]
    assert main(args) == 2
    assert "--ray-* options need --engine ray" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_run_index_still_takes_its_old_progress_keyword(
    image_folder, tmp_path, tiny_model_path, capsys
):
    """``progress=`` was run_index's (and IndexJob.run's) name for ``show_progress``: it still
    works, shows no bar when False, and warns with both names."""
    from clipbridge.index import prepare_index

    embedder = Embedder(tiny_model_path)
    with pytest.warns(
        DeprecationWarning,
        match=r"^run_index\(progress=...\) is now run_index\(show_progress=...\)$",
    ):
        summary = run_index(
            [image_folder / "b"], tmp_path / "a.parquet", embedder=embedder, progress=False
        )
    warns = pytest.warns(DeprecationWarning, match=r"^IndexJob\.run\(progress=...\)")
    with prepare_index([image_folder / "b"], tmp_path / "b.parquet") as job, warns:
        again = job.run(embedder, progress=False)
    assert summary.done == again.done > 0
    assert "Indexing images" not in capsys.readouterr().err  # the bar is off, as asked
    run_index([image_folder / "b"], tmp_path / "c.parquet", embedder=embedder)
    assert "Indexing images" in capsys.readouterr().err  # (the default shows it)
