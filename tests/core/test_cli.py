"""`clipbridge embed`/`info` and the options all subcommands share: values, order, errors, help."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
from api_server import Fault

import clipbridge
from clipbridge import Embedder
from clipbridge.cli import build_parser, main


def _exit_code(argv: list[str]) -> int:
    """``main(argv)``'s exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    return err.strip()


def test_embed_to_npy(tiny_model_path, fixture_images, tmp_path, capsys):
    out = tmp_path / "v.npy"
    code = main(
        [
            "embed",
            "--model",
            tiny_model_path,
            "--text",
            "a cat",
            "--text",
            "a dog",
            "--image",
            str(fixture_images[0]),
            "--out",
            str(out),
        ]
    )
    assert code == 0 and f"wrote 3 x 96 float32 to {out}" in capsys.readouterr().out
    vecs = np.load(out)
    emb = Embedder(tiny_model_path)
    np.testing.assert_allclose(vecs[:2], emb.embed_texts(["a cat", "a dog"]), atol=1e-6)
    np.testing.assert_allclose(vecs[2], emb.embed_images([fixture_images[0]])[0], atol=1e-6)


def test_embed_rows_follow_the_command_line_order(tiny_model_path, fixture_images, tmp_path):
    """--image a --text b ... writes a's row first: rows are in the order the inputs were given."""
    out = tmp_path / "v.jsonl"
    given = [
        ("image", str(fixture_images[0])),
        ("text", "a cat"),
        ("image", str(fixture_images[1])),
        ("text", "a dog"),
    ]
    argv = ["embed", "--model", tiny_model_path, "--out", str(out)]
    for kind, value in given:
        argv += [f"--{kind}", value]
    assert main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["type"], r["input"]) for r in rows] == given
    emb = Embedder(tiny_model_path)
    want = {
        "text": dict(zip(["a cat", "a dog"], emb.embed_texts(["a cat", "a dog"]), strict=True)),
        "image": dict(
            zip(map(str, fixture_images[:2]), emb.embed_images(fixture_images[:2]), strict=True)
        ),
    }
    for row in rows:  # the values, not only the shape: each row is its own input's vector
        np.testing.assert_allclose(row["embedding"], want[row["type"]][row["input"]], atol=1e-6)


def test_embed_jsonl_to_stdout(tiny_model_path, fixture_images, capsys):
    argv = ["embed", "--model", tiny_model_path, "--text", "x", "--image", str(fixture_images[0])]
    assert main([*argv, "--out", "-"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]  # nothing but JSONL
    assert [(r["type"], r["input"]) for r in rows] == [("text", "x"), ("image", argv[-1])]
    emb = Embedder(tiny_model_path)
    np.testing.assert_allclose(rows[0]["embedding"], emb.embed_texts(["x"])[0], atol=1e-6)
    np.testing.assert_allclose(
        rows[1]["embedding"], emb.embed_images([fixture_images[0]])[0], atol=1e-6
    )


def test_info_console_script(tiny_model_path):
    result = subprocess.run(
        [sys.executable, "-m", "clipbridge.cli", "info", "--model", tiny_model_path],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "dimension: 96" in result.stdout
    assert "device: cpu" in result.stdout and "dtype: float32" in result.stdout
    assert "parameters: " in result.stdout


# -- errors ---------------------------------------------------------------------------------------
def test_bad_image_error_counts_all_inputs_from_1(
    tiny_model_path, fixture_images, tmp_path, capsys
):
    """The 2nd image is the 4th input: the message says input 4 of 4 and names the argument."""
    missing = tmp_path / "no.png"
    argv = ["embed", "--model", tiny_model_path, "--text", "a", "--image", str(fixture_images[0])]
    argv += ["--text", "b", "--image", str(missing)]
    assert main(argv) == 2
    err = _one_line(capsys.readouterr().err)
    assert err == f"clipbridge: input 4 of 4 (--image): file not found: {str(missing)!r}"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["embed", "--text", "x", "--dtype", "fp8"], "argument --dtype: invalid choice: 'fp8'"),
        (["embed", "--text", "x", "--device", "gpu"], "argument --device: invalid device 'gpu'"),
        (["info", "--device", "cuda:x"], "argument --device: invalid device 'cuda:x'"),
        (["info", "--backend", "cloud"], "argument --backend: invalid choice: 'cloud'"),
        (["demo", "--top-k", "0"], "argument --top-k: must be a positive integer, not '0'"),
        (["demo", "--top-k", "-1"], "argument --top-k: must be a positive integer, not '-1'"),
        (["demo", "--top-k", "two"], "argument --top-k: must be a positive integer, not 'two'"),
        (
            ["embed", "--text", "x", "--out", "v.txt"],
            "argument --out: 'v.txt' must end in .npy or .jsonl",
        ),
    ],
)
def test_invalid_option_values_exit_2_with_one_line(argv, named, capsys):
    # A model that does not exist: had anything run past the parser, the message would say so.
    assert _exit_code([*argv, "--model", "/no/such/model"]) == 2
    captured = capsys.readouterr()
    err = _one_line(captured.err)
    assert err.startswith(f"clipbridge {argv[0]}: error: {named}")
    assert err.endswith(f"(see clipbridge {argv[0]} --help)")
    assert captured.out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["embed", "--text", "x", "--out", "/nonexistent/dir/x.npy"],
        ["embed", "--text", "x", "--out", "/nonexistent/dir/x.jsonl"],
        ["demo", "--out", "/nonexistent/dir/x.html"],
    ],
)
def test_unwritable_out_is_refused_before_any_work(argv, capsys):
    assert _exit_code([*argv, "--model", "/no/such/model"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"argument --out: cannot write {argv[-1]!r}: no folder '/nonexistent/dir'" in err


def test_out_that_is_a_folder_or_read_only_is_refused(tmp_path, capsys):
    assert _exit_code(["embed", "--text", "x", "--out", str(tmp_path)]) == 2
    assert "must end in .npy or .jsonl" in _one_line(capsys.readouterr().err)
    folder = tmp_path / "v.npy"
    folder.mkdir()
    assert _exit_code(["embed", "--text", "x", "--out", str(folder)]) == 2
    assert f"{str(folder)!r} is a folder, not a file" in _one_line(capsys.readouterr().err)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = _exit_code(["demo", "--out", str(locked / "d.html"), "--model", "/no/such"])
        err = capsys.readouterr().err
    finally:
        locked.chmod(0o700)
    if sys.platform != "win32" and not _is_root():
        assert code == 2 and "permission denied" in _one_line(err)


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def test_api_failure_speaks_of_inputs_not_attributes(
    api_server, fixture_images, monkeypatch, capsys
):
    """A failed API call: which command-line inputs were not embedded, no Python attribute names."""
    monkeypatch.setenv("JINA_API_KEY", api_server.api_key)
    api_server.faults.append(Fault(status=400, body={"detail": "this input is not allowed"}))
    argv = ["embed", "--backend", "api", "--base-url", api_server.url]
    argv += ["--model", api_server.model_name]
    argv += ["--text", "a", "--image", str(fixture_images[0]), "--text", "b"]
    assert main(argv) == 2
    err = _one_line(capsys.readouterr().err)
    assert "this input is not allowed" in err
    assert "(inputs 1, 3 of 3 were not embedded; nothing was written)" in err
    assert "error.partial" not in err and "partial" not in err


# -- logging --------------------------------------------------------------------------------------
def test_verbose_shows_info_logs_default_shows_warnings_only(monkeypatch, capsys):
    def command(args: argparse.Namespace) -> int:
        logging.getLogger("clipbridge.api").info("retry 1 in 0.50s")
        logging.getLogger("clipbridge.api").warning("something to know")
        return 0

    monkeypatch.setattr(sys.modules["clipbridge.cli.main"], "_cmd_info", command)
    for argv, shown in (
        (["info"], ["clipbridge: something to know"]),
        (["info", "-v"], ["clipbridge: retry 1 in 0.50s", "clipbridge: something to know"]),
        (["--verbose", "info"], ["clipbridge: retry 1 in 0.50s", "clipbridge: something to know"]),
    ):
        assert main(argv) == 0
        assert capsys.readouterr().err.splitlines() == shown, argv
    # main() leaves the logger as it found it (no handler piling up across calls)
    assert not logging.getLogger("clipbridge").handlers


def test_api_retries_show_with_verbose_only(api_server, monkeypatch, capsys):
    monkeypatch.setenv("JINA_API_KEY", api_server.api_key)
    argv = ["embed", "--backend", "api", "--base-url", api_server.url, "--text", "a"]
    argv += ["--model", api_server.model_name]
    for verbose in (False, True):
        api_server.faults.append(Fault(status=503, body={"detail": "busy"}))
        assert main([*argv, "-v"] if verbose else argv) == 0
        err = capsys.readouterr().err
        assert api_server.hits == (2 if not verbose else 4)  # the retry happened both times
        if verbose:
            assert err.startswith("clipbridge: embeddings request HTTP 503; retry 1 in "), err
        else:
            assert err == ""


# -- help and version -----------------------------------------------------------------------------
def test_main_stays_the_function_after_the_submodule_is_imported():
    """``clipbridge.cli.main`` is both a function and a module: the function must win."""
    code = (
        "import importlib, sys; importlib.import_module('clipbridge.cli.main'); "
        "from clipbridge.cli import main; sys.exit(main(['--version']) if callable(main) else 3)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("clipbridge "), proc.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"clipbridge {clipbridge.__version__}\n"
    assert version("clipbridge") == clipbridge.__version__  # pyproject reads the same attribute


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"clipbridge": parser, **{f"clipbridge {n}": p for n, p in sub.choices.items()}}


def test_every_option_has_help_and_help_text_is_clean():
    parsers = _parsers()
    assert {"clipbridge embed", "clipbridge info", "clipbridge demo"} <= set(parsers)
    for name, parser in parsers.items():
        for action in parser._actions:
            if action.option_strings:
                assert action.help, f"{name} {action.option_strings[0]} has no help text"
        text = parser.format_help()
        assert "``" not in text and ":class:" not in text and "::" not in text, name
        assert parser.description, f"{name} has no description"
