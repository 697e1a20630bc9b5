"""clipbridge.ray.embed_dataset on a local Ray: same vectors as Embedder, bad rows recorded."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest
from ray_events import read_events

from clipbridge import Embedder, EmbedderConfig
from clipbridge.ray import embed_dataset

pytestmark = pytest.mark.timeout(120)


def test_the_package_imports_the_real_ray(ray_local):
    import clipbridge.ray.cluster as cluster

    assert cluster.import_ray() is ray_local and hasattr(ray_local, "data")
    assert ray_local.cluster_resources()["CPU"] == 2


def test_image_bytes_from_read_binary_files(ray_local, tmp_path, fixture_images, tiny_model_path):
    for path in fixture_images:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    log = tmp_path / "events.jsonl"
    ds = ray_local.data.read_binary_files(
        str(tmp_path), include_paths=True, file_extensions=["png", "jpg"]
    )
    # Two actors of half a CPU each leave a CPU of the two to the read tasks (else they starve).
    out = embed_dataset(
        ds,
        column="bytes",
        kind="image",
        config=EmbedderConfig(model=tiny_model_path),
        concurrency=2,
        num_cpus=0.5,
        batch_size=1,
        event_log=log,
    )
    rows = {row["path"].rsplit("/", 1)[1]: row for row in out.take_all()}
    assert sorted(rows) == sorted([p.name for p in fixture_images] + ["corrupt.png"])
    assert rows["corrupt.png"]["embedding"] is None
    assert "not a recognized image format" in rows["corrupt.png"]["error"]
    expected = Embedder(tiny_model_path).embed_images(fixture_images)
    got = np.array([rows[p.name]["embedding"] for p in fixture_images], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert all(rows[p.name]["error"] is None for p in fixture_images)
    # one model per actor, however many batches (5 batches of one row here)
    loads, embedded = read_events(log)
    assert set(loads.values()) == {1} and 1 <= len(loads) <= 2
    assert sum(embedded.values()) == 5 and set(embedded) <= set(loads)


def test_paths_urls_and_a_missing_file_keep_their_rows(
    ray_local, tmp_path, fixture_images, tiny_model_path, static_server
):
    url = f"{static_server}/images/{fixture_images[1].name}"
    column = [str(fixture_images[0]), str(tmp_path / "missing.png"), url, str(fixture_images[2])]
    ds = ray_local.data.from_arrow(pa.table({"n": range(4), "image": column}))
    config = EmbedderConfig(model=tiny_model_path, allow_private_urls=True)  # 127.0.0.1
    out = embed_dataset(ds, column="image", config=config)
    rows = sorted(out.take_all(), key=lambda r: r["n"])
    assert [r["image"] for r in rows] == column
    assert rows[1]["embedding"] is None
    assert rows[1]["error"] == f"file not found: {str(tmp_path / 'missing.png')!r}"
    expected = Embedder(config=config).embed_images(fixture_images[:3])
    got = np.array([rows[i]["embedding"] for i in (0, 2, 3)], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_texts_and_a_custom_output_column(ray_local, tiny_model_path, fixture_texts):
    ds = ray_local.data.from_items([{"id": i, "body": t} for i, t in enumerate(fixture_texts)])
    out = embed_dataset(
        ds,
        column="body",
        kind="text",
        config=EmbedderConfig(model=tiny_model_path),
        output_column="vec",
        batch_size=2,
    )
    rows = sorted(out.take_all(), key=lambda r: r["id"])
    got = np.array([r["vec"] for r in rows], dtype=np.float32)
    expected = Embedder(tiny_model_path).embed_texts(fixture_texts)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [r["error"] for r in rows] == [None] * len(fixture_texts)
    assert out.schema().base_schema.field("vec").type == pa.list_(pa.float32(), 96)


def test_on_error_raise_fails_the_job_naming_the_item(ray_local, tiny_model_path, tmp_path):
    ds = ray_local.data.from_items([{"image": str(tmp_path / "gone.png")}])
    out = embed_dataset(
        ds, column="image", config=EmbedderConfig(model=tiny_model_path), on_error="raise"
    )
    with pytest.raises(Exception, match="input 0: file not found"):
        out.take_all()


def test_bad_arguments_are_refused_before_any_work(ray_local, tiny_model_path):
    ds = ray_local.data.from_items([{"text": "x"}])
    config = EmbedderConfig(model=tiny_model_path)
    with pytest.raises(ValueError, match="no column 'body'"):
        embed_dataset(ds, column="body", kind="text", config=config)
    with pytest.raises(ValueError, match="kind must be"):
        embed_dataset(ds, column="text", kind="audio", config=config)
    with pytest.raises(ValueError, match="on_error must be"):
        embed_dataset(ds, column="text", kind="text", config=config, on_error="skip")
