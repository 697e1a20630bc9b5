"""``clipbridge index --engine ray`` on a local Ray: the same rows and vectors as locally."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from ray_events import read_events

from clipbridge import Embedder, EmbedderConfig
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
    lines = [json.dumps({"text": t, "n": n}) for n, t in enumerate(texts)]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

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
    for path in fixture_images:  # the columns the local engine writes, from the actors too
        row = rows[str(folder / path.name)]
        with Image.open(path) as image:
            assert (row["width"], row["height"]) == image.size
        assert row["path"] == str(folder / path.name) and row["text"] is None

    out = tmp_path / "texts.parquet"
    source = str(tmp_path / "t.jsonl")
    command = ["index", source, "--kind", "text", "--meta-column", "n", "--out", str(out)]
    assert main([*command, *args]) == 0
    rows = [_rows(out)[f"{source}#line={n + 1}"] for n in range(len(texts))]
    assert [(r["text"], r["n"]) for r in rows] == [(t, n) for n, t in enumerate(texts)]
    got = np.array([r["embedding"] for r in rows], np.float32)
    np.testing.assert_allclose(got, Embedder(tiny_model_path).embed_texts(texts), atol=1e-6)


@pytest.fixture
def three_folders(tmp_path, fixture_images):
    """photos/a, photos/b and photos/c, each with the four fixture images."""
    folder = tmp_path / "photos"
    for sub in ("a", "b", "c"):
        (folder / sub).mkdir(parents=True)
        for path in fixture_images:
            shutil.copy(path, folder / sub / path.name)
    return folder


def test_resume_on_ray_embeds_only_the_rest_once_per_row(
    ray_local, tmp_path, three_folders, tiny_model_path
):
    folder = three_folders
    out = tmp_path / "out.parquet"
    embedder = Embedder(tiny_model_path)
    run_index([folder / "a"], out, embedder=embedder, show_progress=False)  # an earlier run
    log = tmp_path / "events.jsonl"
    summary = run_index(
        [folder],
        out,
        embedder=embedder,
        engine="ray",
        resume=True,
        chunk_size=3,
        show_progress=False,
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


@pytest.mark.timeout(300)
def test_ray_log_lines_stay_out_of_the_progress_bar(tmp_path, fixture_images, tiny_model_path):
    # The command in a process of its own, starting its own Ray, as a user runs it.
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in fixture_images:
        shutil.copy(path, folder / path.name)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_memory_monitor_refresh_ms"] = "0"  # see conftest.py
    args = [str(folder), "--out", str(tmp_path / "o.parquet"), "--model", tiny_model_path]
    args += ["--engine", "ray", "--chunk-size", "2", "--ray-concurrency", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "clipbridge.cli", "index", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    assert "indexed 4 done, 0 failed" in proc.stdout
    bar = proc.stderr[proc.stderr.index("Indexing images") :]
    lines = [line for line in bar.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("Indexing images") for line in lines), bar
    assert " INFO " not in proc.stderr


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


def test_actors_write_the_parts_and_an_interrupted_run_resumes_each_id_once(
    ray_local, tmp_path, three_folders, tiny_model_path
):
    """Vectors stay with the actors: each writes its parts; the driver only joins them."""
    from clipbridge.index import IndexInterrupted
    from clipbridge.index.output import parts_dir

    folder = three_folders
    out = tmp_path / "out.parquet"
    config = EmbedderConfig(model=tiny_model_path)
    seen = []

    def stop_after_one(part):
        seen.append(part)
        raise KeyboardInterrupt

    log = tmp_path / "first.jsonl"
    options = RayOptions(concurrency=2, batch_size=2, event_log=str(log))
    common = {"config": config, "engine": "ray", "chunk_size": 2, "progress": False}
    with pytest.raises(IndexInterrupted):
        run_index([folder], out, ray_options=options, on_chunk=stop_after_one, **common)
    assert not out.exists()
    (part,) = seen
    assert part.rows == 2 and part.failed == 0 and part.path is not None
    events = [json.loads(line) for line in log.read_text().splitlines()]
    written = {e["part"]: e["pid"] for e in events if e["event"] == "batch"}
    assert part.path in written and written[part.path] != os.getpid()  # an actor wrote it
    on_disk = sorted(parts_dir(out).glob("part-*.parquet"))
    assert on_disk and all(str(p) in written for p in on_disk)
    assert pq.read_table(part.path).column("embedding").null_count == 0

    log = tmp_path / "resumed.jsonl"
    options = RayOptions(concurrency=2, batch_size=2, event_log=str(log))
    summary = run_index([folder], out, ray_options=options, resume=True, **common)
    assert summary.skipped >= 2 and summary.skipped + summary.done == 12 and not summary.failed
    # the actors in flight at the interrupt may have finished every part: then none is left
    embedded = read_events(log)[1] if log.exists() else {}
    assert sum(embedded.values()) == summary.done  # the rest, each once
    ids = pq.read_table(out).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 12 and not parts_dir(out).exists()
    rows = _rows(out)
    got = np.array([rows[i]["embedding"] for i in sorted(rows)], np.float32)
    np.testing.assert_allclose(got, Embedder(config=config).embed_images(sorted(rows)), atol=1e-6)


def test_engine_ray_builds_no_embedder_on_the_driver(
    ray_local, tmp_path, fixture_images, tiny_model_path, monkeypatch
):
    """The schema's width comes from the model's config files: the driver (on a GPU machine, a
    GPU's worth) loads no model; the actors, processes of their own, do."""
    import clipbridge.embedder
    import clipbridge.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded on the driver")

    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", refuse)
    monkeypatch.setattr(clipbridge.models, "load_model", refuse)
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in fixture_images:
        shutil.copy(path, folder / path.name)
    monkeypatch.chdir(tmp_path)  # a relative --out: the actors (started elsewhere) write there too
    out = tmp_path / "o.parquet"
    args = ["--model", tiny_model_path, "--engine", "ray", "--no-progress", "--precision", "int8"]
    assert main(["index", "photos", "--out", "o.parquet", *args]) == 0
    schema = pq.read_schema(out)
    assert schema.metadata[b"clipbridge.dimension"] == b"96"
    assert schema.field("embedding").type.list_size == 96
    assert len(_rows(out)) == len(fixture_images)


def test_an_actor_that_cannot_write_its_part_is_one_sentence(
    ray_local, tmp_path, fixture_images, tiny_model_path
):
    """A part the actor cannot write (disk full, a folder gone) is the actor's ClipBridgeError
    on the driver, not Ray's wrapped traceback."""
    from clipbridge import ClipBridgeError
    from clipbridge.index import list_items
    from clipbridge.index.output import Parts, index_schema
    from clipbridge.ray.indexing import ray_parts

    config = EmbedderConfig(model=tiny_model_path)
    items = list(list_items(fixture_images[:2], kind="image"))
    gone = tmp_path / "gone"
    parts = Parts(gone, 0, index_schema(96, config))
    options = RayOptions(concurrency=1)
    with pytest.raises(ClipBridgeError, match=f"cannot write {gone}/part-000000-000000000"):
        list(ray_parts(items, parts, config=config, chunk_size=2, options=options))
