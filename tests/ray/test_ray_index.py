"""``clipbridge index --engine ray`` on a local Ray: the same rows and vectors as locally."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from ray_events import read_events

from clipbridge import Embedder
from clipbridge.cli import main
from clipbridge.index import run_index
from clipbridge.ray import RayOptions

pytestmark = pytest.mark.timeout(120)


def _rows(path):
    return {row["id"]: row for row in pq.read_table(path).to_pylist()}


def test_index_engine_ray_images_and_texts_equal_embedder(
    ray_local, tmp_path, fixture_images, fixture_texts, tiny_model_path, capsys
):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in fixture_images:
        shutil.copy(path, folder / path.name)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    missing = tmp_path / "missing.png"
    texts = [t for t in fixture_texts if t.strip()]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")

    out = tmp_path / "images.parquet"
    args = ["--model", tiny_model_path, "--engine", "ray", "--chunk-size", "2", "--no-progress"]
    assert main(["index", str(folder), str(missing), "--out", str(out), *args]) == 0
    printed = capsys.readouterr().out
    assert "indexed 4 done, 2 failed, 0 skipped" in printed and "engine ray" in printed
    assert "actors on" in printed and "'CPU': 2.0" in printed
    rows = _rows(out)
    assert len(rows) == 6
    assert "not a recognized image format" in rows[str(folder / "corrupt.jpg")]["error"]
    assert rows[str(missing)]["error"] == f"file not found: {str(missing)!r}"
    assert rows[str(missing)]["embedding"] is None
    expected = Embedder(tiny_model_path).embed_images(fixture_images)
    got = np.array([rows[str(folder / p.name)]["embedding"] for p in fixture_images], np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert pq.read_schema(out).metadata[b"clipbridge.dimension"] == b"96"

    out = tmp_path / "texts.parquet"
    assert main(["index", str(tmp_path / "t.txt"), "--kind", "text", "--out", str(out), *args]) == 0
    rows = _rows(out)
    got = np.array(
        [rows[f"{tmp_path}/t.txt#line={n + 1}"]["embedding"] for n in range(len(texts))],
        np.float32,
    )
    np.testing.assert_allclose(got, Embedder(tiny_model_path).embed_texts(texts), atol=1e-6)


def test_resume_on_ray_embeds_only_the_rest_once_per_row(
    ray_local, tmp_path, fixture_images, tiny_model_path
):
    folder = tmp_path / "photos"
    for sub in ("a", "b", "c"):
        (folder / sub).mkdir(parents=True)
        for path in fixture_images:
            shutil.copy(path, folder / sub / path.name)
    out = tmp_path / "out.parquet"
    embedder = Embedder(tiny_model_path)
    run_index([folder / "a"], out, embedder=embedder, progress=False)  # an earlier run
    log = tmp_path / "events.jsonl"
    summary = run_index(
        [folder],
        out,
        embedder=embedder,
        engine="ray",
        resume=True,
        chunk_size=3,
        progress=False,
        ray_options=RayOptions(concurrency=2, batch_size=2, event_log=str(log)),
    )
    assert (summary.skipped, summary.done, summary.failed) == (4, 8, 0)
    loads, embedded = read_events(log)
    # one model per actor (a second actor may not get a CPU before the first has done all)
    assert set(loads.values()) == {1} and 1 <= len(loads) <= 2
    assert sum(embedded.values()) == 8 and set(embedded) <= set(loads)  # each remaining row once
    rows = _rows(out)
    assert len(rows) == 12
    ids = sorted(rows)
    got = np.array([rows[i]["embedding"] for i in ids], np.float32)
    np.testing.assert_allclose(got, embedder.embed_images(ids), atol=1e-6)


def test_index_engine_ray_precision(ray_local, tmp_path, fixture_images, tiny_model_path):
    """--precision on the actors: the same codes as the Embedder at that precision."""
    import pyarrow as pa

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in fixture_images:
        shutil.copy(path, folder / path.name)
    out = tmp_path / "bits.parquet"
    args = ["--model", tiny_model_path, "--engine", "ray", "--no-progress"]
    assert main(["index", str(folder), "--out", str(out), "--precision", "binary", *args]) == 0
    schema = pq.read_schema(out)
    assert schema.field("embedding").type == pa.list_(pa.int8(), 12)
    assert schema.metadata[b"clipbridge.precision"] == b"binary"
    rows = _rows(out)
    got = np.array([rows[str(folder / p.name)]["embedding"] for p in fixture_images])
    want = Embedder(tiny_model_path, precision="binary").embed_images(fixture_images)
    np.testing.assert_array_equal(got, want)
