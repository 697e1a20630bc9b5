"""The options the commands share (clipbridge.cli.options): one meaning per flag, one spelling of
the progress flag, and every mistake one line with exit code 2 before a model loads."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pytest

import clipbridge
from clipbridge.cli import build_parser, main
from clipbridge.cli.options import config_from_args, model_fields
from clipbridge.config import DEFAULT_API_BATCH_SIZE, DEFAULT_BATCH_SIZE

ROOT = Path(__file__).resolve().parents[2]
EVAL_DATA = ROOT / "examples" / "eval"


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if anything builds an Embedder (a mistake must stop before the model)."""

    def refuse(*args, **kwargs):
        raise AssertionError("an Embedder was built")

    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", refuse)


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize(
    "command", [["eval", "--data", "d"], ["index", "src", "--out", "o.parquet"], ["serve"]]
)
def test_each_batch_flag_sets_its_one_field(command):
    """Regression: ``eval --batch-size`` set the forward pass and the API request size both."""
    config = config_from_args(_parse(*command, "--batch-size", "3"), model="m")
    assert (config.batch_size, config.api_batch_size) == (3, DEFAULT_API_BATCH_SIZE)
    api = _parse(*command, "--backend", "api", "--api-batch-size", "5")
    config = config_from_args(api, model="m")
    assert (config.batch_size, config.api_batch_size) == (DEFAULT_BATCH_SIZE, 5)


def test_index_batch_size_is_not_the_ray_rows_per_call():
    """Regression: ``index --engine ray --batch-size N`` also made N the rows per Ray call."""
    from clipbridge.index.command import DEFAULT_RAY_BATCH_SIZE, _ray_options

    args = _parse("index", "src", "--out", "o.parquet", "--engine", "ray", "--batch-size", "8")
    assert config_from_args(args).batch_size == 8
    assert _ray_options(args)["batch_size"] == DEFAULT_RAY_BATCH_SIZE
    args = _parse("index", "src", "--out", "o.parquet", "--engine", "ray", "--ray-batch-size", "64")
    assert (_ray_options(args)["batch_size"], config_from_args(args).batch_size) == (64, 32)
    assert _ray_options(_parse("index", "src", "--out", "o.parquet")) is None


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["index", "s", "--out", "{tmp}/o.parquet", "--backend", "api", "--batch-size", "4"],
            "api",
        ),
        (["embed", "--text", "a", "--dtype", "int8"], "needs --backend onnx"),
        (["eval", "--data", str(EVAL_DATA), "--backend", "api", "--batch-size", "4"], "api"),
        (["eval", "--data", str(EVAL_DATA), "--api-batch-size", "4"], "needs --backend api"),
        (["eval", "--data", str(EVAL_DATA), "--model", "a", "--model", "a"], "given once"),
        (["index", "src", "--out", "{tmp}/o.parquet", "--ray-batch-size", "9"], "--engine ray"),
        (
            ["index", "s", "--out", "{tmp}/o.parquet", "--engine", "ray", "--batch-size", "64"],
            "--batch-size 64 is above the 32 rows a Ray call hands each actor",
        ),
        (["serve", "--api-batch-size", "4"], "needs --backend api"),
        (["embed"], "give at least one --text or --image"),
    ],
)
def test_a_mistake_is_one_line_naming_the_command(argv, says, tmp_path, capsys, no_model_load):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"clipbridge {argv[0]}: ") and says in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_the_progress_flag_is_one_option_everywhere():
    """``--no-progress`` is spelled, explained and stored (as ``show_progress``) alike."""
    found = {}
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if "progress" in " ".join(action.option_strings):
                found[name] = (tuple(action.option_strings), action.dest, action.help)
    assert set(found) == {"demo", "eval", "index"}
    assert set(found.values()) == {(("--no-progress",), "show_progress", "hide the progress bars")}
    assert _parse("eval", "--data", "d").show_progress is True
    assert _parse("index", "s", "--out", "o.parquet", "--no-progress").show_progress is False


def test_model_fields_leave_out_what_was_not_given():
    args = _parse("search", "index.parquet", "a cat", "--device", "cpu")
    assert model_fields(args) == {"device": "cpu"}  # search fills the rest from the index
    fields = model_fields(_parse("demo", "--backend", "onnx"))
    assert fields == {"model": "jinaai/jina-clip-v1", "backend": "onnx", "device": "auto",
                      "dtype": "auto"}  # fmt: skip


def test_run_demo_still_takes_its_old_progress_keyword(monkeypatch):
    from clipbridge.demo import run as demo_run
    from clipbridge.demo.frameworks import DemoItem

    jobs = []

    def record(**fields):
        jobs.append(fields)
        raise RuntimeError("stop before the framework runs")

    monkeypatch.setattr(
        demo_run, "_load_embedder", lambda model, options: argparse.Namespace(backend=None)
    )
    monkeypatch.setattr(demo_run, "Job", record)
    items = [DemoItem(path=Path("a.jpg"), caption="a")]
    for keywords in ({"show_progress": False}, {"progress": False}, {}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(RuntimeError, match="stop before"):
                demo_run.run_demo("langchain", items, **keywords)
        warned = [str(w.message) for w in caught if w.category is DeprecationWarning]
        assert warned == (["run_demo(progress=...) is now run_demo(show_progress=...)"]
                          if "progress" in keywords else [])  # fmt: skip
    assert [job["show_progress"] for job in jobs] == [False, False, True]
