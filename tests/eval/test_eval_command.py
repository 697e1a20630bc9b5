"""``clipbridge eval`` end to end on the bundled example, with the tiny checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clipbridge import Embedder
from clipbridge.cli import main
from clipbridge.eval import evaluate, load_eval_data
from clipbridge.eval.run import embed_images_skipping_bad

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eval"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TASK_KEYS = {
    "text_text": {"ndcg@10"},
    "text_to_image": {"recall@1", "recall@5", "recall@10"},
    "image_to_text": {"recall@1", "recall@5", "recall@10"},
    "image_image": {"recall@1", "map@10"},
}


def _copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)  # follows the images/ link: real files to spoil
    return folder


def test_eval_prints_the_table_and_writes_json_and_html(tiny_model_path, tmp_path, capsys):
    out_json, out_html = tmp_path / "scores.json", tmp_path / "page.html"
    args = ["eval", "--data", str(EXAMPLE), "--model", tiny_model_path, "--no-progress"]
    code = main([*args, "--json", str(out_json), "--html", str(out_html)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    header, _, row = captured.out.splitlines()[:3]
    for heading in ("Text-Text nDCG@10", "Text→Image R@5", "Image→Text R@5", "Image→Image R@1"):
        assert heading in header
    scores = json.loads(out_json.read_text())
    model = scores["models"][tiny_model_path]
    assert set(model) == {*TASK_KEYS, "seconds"}
    for task, keys in TASK_KEYS.items():
        assert set(model[task]) == keys
        assert all(0.0 <= v <= 1.0 for v in model[task].values())
    # the printed row shows the same numbers as the JSON
    cells = row.split()
    assert cells[1:5] == [
        f"{model['text_text']['ndcg@10']:.3f}",
        f"{model['text_to_image']['recall@5']:.3f}",
        f"{model['image_to_text']['recall@5']:.3f}",
        f"{model['image_image']['recall@1']:.3f}",
    ]
    assert model["seconds"] > 0
    page = out_html.read_text()
    assert "<table>" in page and page.count("data:image/jpeg;base64,") >= 1
    assert "Text → image: captions whose image ranked lowest" in page
    # the worst text->image query of the tiny model ranks its image below the 5 hits shown,
    # so the page shows the right answer beside it
    worst = page.split("captions whose image ranked lowest")[1].split('<div class="query">')[1]
    assert "first correct hit at rank" in worst and "correct answer:" in worst


def test_json_holds_only_the_tasks_the_data_supports(tiny_model_path, tmp_path):
    folder = tmp_path / "labels-only"
    folder.mkdir()
    (folder / "images").symlink_to((EXAMPLE / "images").resolve())
    shutil.copy(EXAMPLE / "labels.jsonl", folder)
    out = tmp_path / "s.json"
    argv = ["eval", "--data", str(folder), "--model", tiny_model_path, "--json", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert set(json.loads(out.read_text())["models"][tiny_model_path]) == {"image_image", "seconds"}


def test_two_models_get_a_percent_row(tiny_model_path, tmp_path, capsys):
    other = tmp_path / "copy-of-tiny"
    shutil.copytree(tiny_model_path, other)
    argv = ["eval", "--data", str(EXAMPLE), "--model", tiny_model_path, "--model", str(other)]
    assert main([*argv, "--no-progress", "--batch-size", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1:5] == lines[3].split()[1:5]  # same weights, same scores
    assert lines[5].split() == ["%", "vs", "first", "model", "+0%", "+0%", "+0%", "+0%"]


def test_missing_data_exits_2_with_one_sentence(tmp_path, capsys):
    code = main(["eval", "--data", str(tmp_path / "nope"), "--model", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"clipbridge: --data {tmp_path / 'nope'} is not a folder"]


def test_broken_file_exits_2_before_any_model_loads(tmp_path, capsys):
    folder = _copy_example(tmp_path)
    (folder / "qrels.tsv").write_text("q1\td1\t1\nq1\td2\tmany\n")
    assert main(["eval", "--data", str(folder), "--model", "not/loaded"]) == 2
    assert "qrels.tsv line 2: score 'many' is not a number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "line", "record"),
    [
        ("queries.jsonl", 3, {"_id": "q3", "text": "lone \ud800 surrogate"}),
        ("corpus.jsonl", 1, {"_id": "d1", "text": "body", "title": "\udfff"}),
        ("captions.jsonl", 2, {"image": "astronaut.jpg", "caption": "x\udc80"}),
        ("labels.jsonl", 1, {"image": "bad\ud83d.jpg", "label": "space"}),
    ],
)
def test_a_lone_surrogate_in_the_data_exits_2_naming_file_and_line(
    name, line, record, tmp_path, capsys
):
    folder = _copy_example(tmp_path)
    path = folder / name
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = json.dumps(record)  # JSON writes the surrogate as a \\uXXXX escape
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["eval", "--data", str(folder), "--model", "not/loaded", "--no-progress"]) == 2
    err = capsys.readouterr().err
    bad = next(c for v in record.values() for c in v if 0xD800 <= ord(c) <= 0xDFFF)
    assert err.splitlines()[-1] == (
        f"clipbridge: {path} line {line} holds text that is not valid Unicode "
        f"(a lone surrogate, U+{ord(bad):04X})"
    )
    assert "Traceback" not in err


def test_a_bad_image_is_reported_and_left_out(tiny_model_path, tmp_path, capsys):
    folder = _copy_example(tmp_path)
    (folder / "images" / "coffee.jpg").write_bytes(b"<html>not a photo</html>")
    out = tmp_path / "s.json"
    argv = ["eval", "--data", str(folder), "--model", tiny_model_path, "--json", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "left out image coffee.jpg: not a recognized image format" in err
    scores = json.loads(out.read_text())["models"][tiny_model_path]

    # Left out = as if coffee.jpg, its two captions and its label had never been in the data.
    without = _copy_example(tmp_path / "without")
    for name in ("captions.jsonl", "labels.jsonl"):
        path = without / name
        kept = [line for line in path.read_text().splitlines() if "coffee.jpg" not in line]
        path.write_text("\n".join(kept) + "\n")
    clean = evaluate(Embedder(tiny_model_path), load_eval_data(without))
    for task in ("text_to_image", "image_to_text", "image_image"):
        assert scores[task] == pytest.approx(clean.scores[task], abs=1e-12)


def test_skipping_keeps_partial_work_and_goes_on(tiny_model_path, fixture_images, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    images = [
        fixture_images[0],
        bad,
        fixture_images[1],
        tmp_path / "missing.png",
        fixture_images[2],
    ]
    emb = Embedder(tiny_model_path, batch_size=2)
    vectors, failed = embed_images_skipping_bad(emb, images)
    assert sorted(failed) == [1, 3] and "file not found" in failed[3]
    good = emb.embed_images([fixture_images[0], fixture_images[1], fixture_images[2]])
    np.testing.assert_allclose(vectors[[0, 2, 4]], good, atol=1e-6)
    assert np.isnan(vectors[[1, 3]]).all()


def test_api_backend_gives_the_same_table_as_local(
    tiny_model_path, api_server, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("JINA_API_KEY", api_server.api_key)
    local, remote = tmp_path / "local.json", tmp_path / "api.json"
    base = ["eval", "--data", str(EXAMPLE), "--no-progress"]
    assert main([*base, "--model", tiny_model_path, "--json", str(local)]) == 0
    api_args = ["--backend", "api", "--base-url", api_server.url, "--model", api_server.model_name]
    assert main([*base, *api_args, "--json", str(remote)]) == 0
    tables = capsys.readouterr().out.split("\n\n")
    ours = json.loads(local.read_text())["models"][tiny_model_path]
    theirs = json.loads(remote.read_text())["models"][api_server.model_name]
    for task in TASK_KEYS:
        assert theirs[task] == pytest.approx(ours[task], abs=1e-12), task
    assert api_server.requests  # the numbers really came over HTTP
    assert len(tables) >= 1


def test_jina_clip_beside_a_transformers_clip(tiny_model_path, tmp_path, capsys):
    """The seed's comparison shape: jina-clip-v1 first, a CLIP checkpoint (the transformers
    family) second, each scored through its own preprocessing and token limit."""
    from tiny_clip import save_tiny_clip

    clip = save_tiny_clip(tmp_path / "tiny-clip")
    out = tmp_path / "s.json"
    argv = ["eval", "--data", str(EXAMPLE), "--model", tiny_model_path, "--model", str(clip)]
    assert main([*argv, "--no-progress", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].startswith(str(clip)) and lines[5].startswith("% vs first model")
    models = json.loads(out.read_text())["models"]
    assert list(models) == [tiny_model_path, str(clip)]
    clip_scores = evaluate(Embedder(str(clip)), load_eval_data(EXAMPLE)).scores
    for task in TASK_KEYS:
        assert models[str(clip)][task] == pytest.approx(clip_scores[task], abs=1e-12)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--json", "no/such/folder/s.json", "no folder"),
        ("--html", "page.txt", "must end in .html"),
        ("--batch-size", "0", "must be a positive integer"),
    ],
)
def test_bad_options_stop_before_any_work(tmp_path, capsys, option, value, message):
    argv = ["eval", "--data", str(EXAMPLE), "--model", "not/loaded", option, str(tmp_path / value)]
    if option == "--batch-size":
        argv[-1] = value
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_queries_are_embedded_as_queries_on_v2(monkeypatch):
    """Regression: eval embedded queries and captions without jina-clip-v2's query instruction,
    so its v2 numbers were not what the adapters (which send the query task) give."""
    from clipbridge.config import QUERY_TASK
    from clipbridge.eval import run

    seen: dict[str, np.ndarray] = {}
    real_text, real_captions = run._score_text, run._score_captions

    def score_text(report, data, query_vecs, corpus_vecs):
        seen.update(queries=query_vecs, corpus=corpus_vecs)
        return real_text(report, data, query_vecs, corpus_vecs)

    def score_captions(report, data, query_vecs, doc_vecs, image_vecs):
        seen.update(caption_queries=query_vecs, caption_docs=doc_vecs)
        return real_captions(report, data, query_vecs, doc_vecs, image_vecs)

    monkeypatch.setattr(run, "_score_text", score_text)
    monkeypatch.setattr(run, "_score_captions", score_captions)
    v2 = Embedder(str(FIXTURES / "tiny-jina-clip-v2"))
    data = load_eval_data(EXAMPLE)
    report = evaluate(v2, data)
    assert {"text_text", "text_to_image", "image_to_text"} <= set(report.scores)

    queries = v2.embed_texts(data.text.queries, task=QUERY_TASK)
    np.testing.assert_allclose(seen["queries"], queries, atol=1e-6)
    np.testing.assert_allclose(seen["corpus"], v2.embed_texts(data.text.corpus), atol=1e-6)
    captions = data.captions.texts
    np.testing.assert_allclose(
        seen["caption_queries"], v2.embed_texts(captions, task=QUERY_TASK), atol=1e-6
    )
    np.testing.assert_allclose(seen["caption_docs"], v2.embed_texts(captions), atol=1e-6)
    assert np.abs(queries - v2.embed_texts(data.text.queries)).max() > 1e-2  # it matters


def test_precision_rows_from_one_embedding_pass(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "s.json"
    argv = ["eval", "--data", str(EXAMPLE), "--model", tiny_model_path, "--no-progress"]
    for precision in ("float32", "int8", "binary", "int8"):  # a repeat counts once
        argv += ["--precision", precision]
    assert main([*argv, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:5]] == [tiny_model_path] * 3
    assert lines[3].split()[1] == "[int8]" and lines[4].split()[1] == "[binary]"
    models = json.loads(out.read_text())["models"]
    assert list(models) == [
        tiny_model_path,
        f"{tiny_model_path} [int8]",
        f"{tiny_model_path} [binary]",
    ]


def test_precision_scores_are_those_of_the_compact_vectors(tiny_model_path):
    """evaluate on Embedder(precision=P) == evaluate_precisions' row P (the same codes), and
    binary scores rank by Hamming distance."""
    from clipbridge.eval import evaluate_precisions
    from clipbridge.precision import dequantize

    data = load_eval_data(EXAMPLE)
    rows = evaluate_precisions(Embedder(tiny_model_path), data, ["float32", "int8", "ubinary"])
    assert [r.model for r in rows] == [
        tiny_model_path,
        f"{tiny_model_path} [int8]",
        f"{tiny_model_path} [ubinary]",
    ]
    for row, precision in zip(rows[1:], ("int8", "ubinary"), strict=True):
        direct = evaluate(Embedder(tiny_model_path, precision=precision), data)
        assert direct.model == row.model and direct.scores == row.scores
    bits = Embedder(tiny_model_path, precision="ubinary").embed_texts(data.text.queries[:2])
    signs = dequantize(bits, "ubinary", 96)
    hamming = np.unpackbits(bits[0] ^ bits[1]).sum()
    assert np.isclose(signs[0] @ signs[1], 1 - 2 * hamming / 96)
    with pytest.raises(ValueError, match="needs a float32 Embedder"):
        evaluate_precisions(Embedder(tiny_model_path, precision="int8"), data, ["int8"])
