"""clipbridge.eval.data: the folder layout, and one clear sentence for every broken file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clipbridge.eval.data import EvalDataError, load_eval_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eval"


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def _jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_the_bundled_example_supports_every_task():
    data = load_eval_data(EXAMPLE)
    assert data.tasks == ("text_text", "text_to_image", "image_to_text", "image_image")
    assert len(data.images) == 12
    assert all(data.image_path(i).is_file() for i in range(12))
    assert len(data.captions.texts) == 16 and max(data.captions.owner) == 11
    assert sorted(set(data.labels.labels)) == ["medical", "object", "portrait", "space", "texture"]
    assert data.text.query_ids == ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]
    assert data.text.qrels[1] == {1: 2.0, 2: 1.0}  # q2 -> d2 (2), d3 (1)


def test_images_are_indexed_once_across_files(tmp_path):
    (tmp_path / "images").mkdir()
    _write(
        tmp_path,
        "captions.jsonl",
        _jsonl({"image": "a.jpg", "caption": "x"}, {"image": "b.jpg", "caption": "y"}),
    )
    _write(
        tmp_path,
        "labels.jsonl",
        _jsonl({"image": "b.jpg", "label": 1}, {"image": "c.jpg", "label": 1}),
    )
    data = load_eval_data(tmp_path)
    assert data.images == ["a.jpg", "b.jpg", "c.jpg"]
    assert data.captions.owner == [0, 1] and data.labels.image == [1, 2]
    assert data.labels.labels == ["1", "1"] and data.tasks == (
        "text_to_image",
        "image_to_text",
        "image_image",
    )


def test_beir_layout_with_header_titles_and_only_judged_queries(tmp_path):
    _write(
        tmp_path,
        "queries.jsonl",
        _jsonl({"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}),
    )
    _write(
        tmp_path,
        "corpus.jsonl",
        _jsonl({"_id": "d1", "title": "Title", "text": "body"}, {"_id": "d2", "text": "plain"}),
    )
    _write(tmp_path, "qrels.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\nq2\td1\t0\n")
    data = load_eval_data(tmp_path)
    assert data.tasks == ("text_text",)
    assert data.text.query_ids == ["q2"] and data.text.queries == ["two"]
    assert data.text.corpus == ["Title body", "plain"]
    assert data.text.qrels == {0: {1: 1.0, 0: 0.0}}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no eval data: expected captions.jsonl, labels.jsonl, or queries.jsonl"),
        (
            {"captions.jsonl": '{"image": "a.jpg", "caption": "x"}\n{"image": "b.jpg"\n'},
            "captions.jsonl line 2 is not valid JSON",
        ),
        (
            {"captions.jsonl": '{"image": "a.jpg", "text": "x"}\n'},
            "captions.jsonl line 1 needs a 'caption' string",
        ),
        ({"labels.jsonl": "\n\n"}, "labels.jsonl holds no records"),
        ({"labels.jsonl": "[1, 2]\n"}, "labels.jsonl line 1 is not a JSON object"),
        ({"queries.jsonl": '{"_id": "q", "text": "t"}\n'}, "but not corpus.jsonl, qrels.tsv"),
        (
            {
                "queries.jsonl": '{"_id": "q", "text": "t"}\n',
                "corpus.jsonl": '{"_id": "d", "text": "t"}\n',
                "qrels.tsv": "q\tnope\t1\n",
            },
            "qrels.tsv line 1: document 'nope' is not in corpus.jsonl",
        ),
        (
            {
                "queries.jsonl": '{"_id": "q", "text": "t"}\n',
                "corpus.jsonl": '{"_id": "d", "text": "t"}\n',
                "qrels.tsv": "q\td\n",
            },
            "qrels.tsv line 1 needs 3 tab-separated columns",
        ),
        ({"captions.jsonl": '{"image": "a.jpg", "caption": "x"}\n'}, "has no images/ folder"),
    ],
)
def test_broken_files_raise_one_sentence(tmp_path, files, message):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(EvalDataError, match=message.replace("(", r"\(")) as info:
        load_eval_data(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_folder_and_unreadable_file(tmp_path):
    with pytest.raises(EvalDataError, match="is not a folder"):
        load_eval_data(tmp_path / "nope")
    (tmp_path / "images").mkdir()
    (tmp_path / "captions.jsonl").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(
        EvalDataError, match=r"captions\.jsonl line 1 is not UTF-8 text \(byte 0xff\)"
    ):
        load_eval_data(tmp_path)


def test_example_survives_a_copy(tmp_path):
    """The example's images/ is a link to the bundled photos; a copy follows it."""
    shutil.copytree(EXAMPLE, tmp_path / "eval", symlinks=False)
    data = load_eval_data(tmp_path / "eval")
    assert data.image_path(0).is_file()
