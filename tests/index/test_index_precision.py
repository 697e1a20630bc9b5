"""``clipbridge index --precision``: compact vector columns, read back with pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipbridge import ClipBridgeError, Embedder
from clipbridge.cli import main
from clipbridge.index import run_index
from clipbridge.index.output import read_metadata
from clipbridge.precision import quantize

TYPES = {
    "float32": (pa.float32(), 96),
    "int8": (pa.int8(), 96),
    "uint8": (pa.uint8(), 96),
    "binary": (pa.int8(), 12),
    "ubinary": (pa.uint8(), 12),
}


@pytest.mark.parametrize("precision", list(TYPES))
def test_cli_writes_the_compact_column(precision, image_folder, tmp_path, tiny_model_path):
    """With a corrupt file among the images, and batches of 3 so it lands inside a model batch
    (the rows computed before it come back through the error's partial vectors)."""
    out = tmp_path / "out.parquet"
    args = ["index", str(image_folder), "--out", str(out), "--model", tiny_model_path]
    args += ["--batch-size", "3", "--no-progress", "--precision", precision]
    assert main(args) == 0
    schema = pq.read_schema(out)
    value_type, width = TYPES[precision]
    assert schema.field("embedding").type == pa.list_(value_type, width)
    meta = read_metadata(out)
    assert (meta["precision"], meta["dimension"]) == (precision, 96)
    assert meta["config"]["precision"] == precision
    assert schema.metadata[b"clipbridge.precision"] == precision.encode()

    table = pq.read_table(out)
    rows = {r["id"]: r for r in table.to_pylist()}
    good = sorted(i for i, r in rows.items() if r["error"] is None)
    assert len(good) == 8 and len(rows) == 9
    floats = Embedder(tiny_model_path).embed_images(good)
    got = np.array([rows[i]["embedding"] for i in good])
    np.testing.assert_array_equal(got, quantize(floats, precision))
    # the whole column as one numpy array of codes, without going through Python lists
    column = table.filter(pa.compute.is_valid(table["embedding"]))["embedding"].combine_chunks()
    codes = column.flatten().to_numpy().reshape(-1, width)
    assert codes.dtype == quantize(floats[:1], precision).dtype


def test_resume_refuses_another_precision(image_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out.parquet"
    run_index([image_folder / "b"], out, embedder=Embedder(tiny_model_path), show_progress=False)
    binary = Embedder(tiny_model_path, precision="binary")
    with pytest.raises(ClipBridgeError, match=r"at precision float32, this run makes .* binary"):
        run_index([image_folder], out, embedder=binary, resume=True, show_progress=False)


def test_a_file_from_before_precisions_reads_as_float32(image_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out.parquet"
    run_index([image_folder / "b"], out, embedder=Embedder(tiny_model_path), show_progress=False)
    table = pq.read_table(out)
    meta = dict(table.schema.metadata)
    del meta[b"clipbridge.precision"]
    pq.write_table(table.replace_schema_metadata(meta), out)
    assert read_metadata(out)["precision"] == "float32"
    summary = run_index(
        [image_folder], out, embedder=Embedder(tiny_model_path), resume=True, show_progress=False
    )
    assert summary.skipped == 4


def test_bad_precision_is_a_usage_error(image_folder, tmp_path, capsys):
    args = ["index", str(image_folder), "--out", str(tmp_path / "o.parquet"), "--precision", "int4"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "--precision: invalid choice: 'int4'" in capsys.readouterr().err


def test_rows_before_a_bad_item_keep_their_codes(image_folder, tmp_path, tiny_model_path):
    """The bad file sits inside a model batch: the rows before it come from the error's
    ``partial``, already quantized by the Embedder (they used to be normalized here as floats)."""
    from clipbridge.index.embedding import embed_or_record

    corrupt = image_folder / "a" / "corrupt.png"
    photos = sorted(p for p in (image_folder / "a").iterdir() if p != corrupt)
    bad = 2  # the second batch of 2 fails: the first one comes back as the error's partial
    files = [*photos[:2], corrupt, *photos[2:]]
    emb = Embedder(tiny_model_path, batch_size=2, precision="int8")
    result = embed_or_record(emb, "image", files)
    assert result.vectors.dtype == np.int8 and result.vectors.shape == (5, 96)
    assert [e is not None for e in result.errors] == [i == bad for i in range(5)]
    good = [f for i, f in enumerate(files) if i != bad]
    want = quantize(Embedder(tiny_model_path).embed_images(good), "int8")
    np.testing.assert_array_equal(np.delete(result.vectors, bad, axis=0), want)
    assert not result.vectors[bad].any()


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_search_ranks_a_compact_index_as_its_codes_do(precision, tmp_path, tiny_model_path):
    """clipbridge search on a compact index: the query is quantized alike and the rows ranked by
    the dequantized codes (binary: Hamming distance)."""
    from clipbridge.precision import dequantize
    from clipbridge.search import search_index

    texts = [f"a photo of {n} red bicycles near the river at dusk" for n in range(12)]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "t.parquet"
    emb = Embedder(tiny_model_path, precision=precision)
    run_index([tmp_path / "t.txt"], out, kind="text", embedder=emb, show_progress=False)
    floats = Embedder(tiny_model_path)
    hits = search_index(out, floats, text="bicycles by a river", top_k=12)
    codes = emb.embed_texts(texts)
    query = emb.embed_texts(["bicycles by a river"], task="retrieval.query")
    stored, asked = dequantize(codes, precision, 96), dequantize(query, precision, 96)[0]
    scores = stored @ asked / np.linalg.norm(stored, axis=1) / np.linalg.norm(asked)
    want = np.argsort(-scores, kind="stable")
    assert [h.id for h in hits] == [f"{tmp_path / 't.txt'}#line={i + 1}" for i in want]
    np.testing.assert_allclose([h.score for h in hits], scores[want], atol=1e-5)


def test_framework_loaders_refuse_a_compact_index(image_folder, tmp_path, tiny_model_path):
    from clipbridge.index_file import read_info, read_rows

    out = tmp_path / "bits.parquet"
    emb = Embedder(tiny_model_path, precision="ubinary")
    run_index([image_folder / "b"], out, embedder=emb, show_progress=False)
    assert read_info(out).precision == "ubinary"
    with pytest.raises(ClipBridgeError, match=r"holds ubinary codes .* take float vectors"):
        read_rows(out)
