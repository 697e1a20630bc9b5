"""``clipbridge index`` under misuse and faults: unusable arguments are one sentence (exit 2)
before any model loads, OUT is never a folder nor clobbered, one run writes OUT at a time,
finishing survives a kill at every step, and every source row is written exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import clipbridge.embedder
from clipbridge import ClipBridgeError, Embedder
from clipbridge.cli import main
from clipbridge.index import output as index_output
from clipbridge.index import run_index
from clipbridge.index.output import parts_dir

ROOT = Path(__file__).resolve().parents[2]
N_TEXTS = 240


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def _ids(path: Path) -> list[str]:
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if the command gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(clipbridge.embedder.Embedder, "__init__", refuse)


@pytest.fixture
def texts_file(tmp_path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"sentence number {i}\n" for i in range(N_TEXTS)), encoding="utf-8")
    return path


# -- --out -------------------------------------------------------------------------------------


def test_out_folder_is_refused_and_kept_even_with_overwrite(
    image_folder, tmp_path, tiny_model_path, no_model, capsys
):
    folder = tmp_path / "keep.parquet"
    folder.mkdir()
    (folder / "precious.txt").write_text("mine")
    plain = tmp_path / "keep"
    plain.mkdir()
    for out in (folder, plain):
        args = ["index", str(image_folder), "--out", str(out), "--model", tiny_model_path]
        with pytest.raises(SystemExit) as info:
            main([*args, "--overwrite"])
        assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is a folder, not a file" in err and "must end in .parquet" in err
    assert (folder / "precious.txt").read_text() == "mine" and plain.is_dir()
    # the Python API refuses it too, before anything is removed or loaded
    with pytest.raises(ClipBridgeError, match="is a folder"):
        run_index([image_folder], folder, overwrite=True)
    assert (folder / "precious.txt").read_text() == "mine"


def test_out_must_be_parquet_and_a_non_parquet_file_is_never_replaced(
    image_folder, tmp_path, tiny_model_path, no_model, capsys
):
    with pytest.raises(SystemExit) as info:
        main(["index", str(image_folder), "--out", str(tmp_path / "x.csv")])
    assert info.value.code == 2
    assert f"'{tmp_path}/x.csv' must end in .parquet" in capsys.readouterr().err
    notes = tmp_path / "notes.parquet"
    notes.write_text("not a parquet file")
    args = ["index", str(image_folder), "--out", str(notes), "--model", tiny_model_path]
    assert main([*args, "--overwrite"]) == 2
    assert "is not a Parquet file" in capsys.readouterr().err
    assert notes.read_text() == "not a parquet file"


# -- finishing: a kill at every step, then --resume --------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, no cleanup code of ours runs for it."""


def _kill_at(step: str, monkeypatch, out: Path) -> None:
    real_replace = os.replace
    calls = {"join": 0}

    def finish(self):
        raise Killed

    def join(table, seen, _real=index_output._first_of_each_id):
        calls["join"] += 1
        if calls["join"] == 3:
            raise Killed
        return _real(table, seen)

    def replace(src, dst):
        if Path(dst) == out:
            raise Killed
        real_replace(src, dst)

    def rmtree_none(path, ignore_errors=False):
        raise Killed

    def rmtree_some(path, ignore_errors=False):
        for part in sorted(Path(path).glob("part-*.parquet"))[:5]:
            part.unlink()
        raise Killed

    patches = {
        "before finishing": (index_output.ChunkWriter, "finish", finish),
        "while joining": (index_output, "_first_of_each_id", join),
        "before the rename": (index_output.os, "replace", replace),
        "after the rename": (index_output.shutil, "rmtree", rmtree_none),
        "while removing the parts": (index_output.shutil, "rmtree", rmtree_some),
    }
    target, name, value = patches[step]
    monkeypatch.setattr(target, name, value)


KILL_POINTS = [
    "before finishing",
    "while joining",
    "before the rename",
    "after the rename",
    "while removing the parts",
]


@pytest.mark.parametrize("step", KILL_POINTS)
@pytest.mark.parametrize("earlier_out", [False, True], ids=["new", "resumed"])
def test_a_kill_at_any_step_of_finishing_then_resume_writes_each_row_once(
    step, earlier_out, texts_file, tmp_path, tiny_model_path, monkeypatch
):
    out = tmp_path / "texts.parquet"
    embedder = Embedder(tiny_model_path)
    common = {"kind": "text", "embedder": embedder, "chunk_size": 16, "progress": False}
    if earlier_out:  # OUT already holds rows from an earlier, finished run
        head = tmp_path / "head.txt"
        head.write_text("".join(texts_file.read_text().splitlines(True)[:40]))
        run_index([head], out, **common)
    with monkeypatch.context() as patch:
        _kill_at(step, patch, out)
        with pytest.raises(Killed):
            run_index([texts_file], out, resume=earlier_out, **common)
    assert parts_dir(out).is_dir()

    summary = run_index([texts_file], out, resume=True, **common)
    ids = _ids(out)
    expected = {f"{texts_file}#line={n}" for n in range(1, N_TEXTS + 1)}
    extra = 40 if earlier_out else 0
    assert len(ids) == len(set(ids)) == N_TEXTS + extra, step
    assert expected <= set(ids)
    assert summary.rows == N_TEXTS + extra and summary.done + summary.skipped == N_TEXTS
    assert not parts_dir(out).exists()
    assert not out.with_name(out.name + ".tmp").exists()


# A real SIGKILL between the rename of the joined file onto OUT and the removal of OUT.parts/.
KILL_AFTER_RENAME = """
import os, shutil, signal, sys
from clipbridge.index import output
output.shutil.rmtree = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
from clipbridge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_after_the_rename_then_resume_keeps_each_row_once(
    texts_file, tmp_path, tiny_model_path
):
    out = tmp_path / "texts.parquet"
    args = ["index", str(texts_file), "--kind", "text", "--out", str(out)]
    args += ["--model", tiny_model_path, "--chunk-size", "16", "--no-progress"]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_RENAME, *args], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the state of the bug: every row is in OUT and again in the parts
    assert len(_ids(out)) == N_TEXTS
    parts = sorted(parts_dir(out).glob("part-*.parquet"))
    assert sum(pq.read_metadata(p).num_rows for p in parts) == N_TEXTS
    assert main([*args, "--resume"]) == 0
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == N_TEXTS
    assert not parts_dir(out).exists()


# -- one writer per OUT ------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from clipbridge.index.lock import OutputLock
with OutputLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_run_on_the_same_out_is_refused_naming_the_first(
    image_folder, tmp_path, tiny_model_path, no_model, capsys
):
    out = tmp_path / "out.parquet"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        args = ["index", str(image_folder), "--out", str(out), "--model", tiny_model_path]
        assert main(args) == 2
        assert main([*args, "--resume"]) == 2
        assert main([*args, "--overwrite"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 3
        assert err[0] == (
            f"clipbridge: {out} is being written by another clipbridge index run "
            f"(process {holder.pid}); wait for it to end or pick another --out"
        )
        assert not parts_dir(out).exists() and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died without unlocking (SIGKILL): its lock went with it
    from clipbridge.index.lock import OutputLock

    assert lock_path(out).exists()
    with OutputLock(out):
        pass
    assert not lock_path(out).exists()


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    from clipbridge.index import OutputLockedError
    from clipbridge.index.lock import OutputLock

    out = tmp_path / "o.parquet"
    with OutputLock(out):
        with pytest.raises(OutputLockedError) as info:
            OutputLock(out).acquire()
        assert info.value.pid == os.getpid()
    with OutputLock(out):  # released: free again
        pass


# -- one id per file, however its path is spelled ----------------------------------------------


def test_resume_with_the_folder_spelled_another_way_adds_nothing_twice(
    image_folder, tmp_path, tiny_model_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.parquet"
    embedder = Embedder(tiny_model_path)
    run_index(["photos/a"], out, embedder=embedder, show_progress=False)  # 5 files
    assert len(_ids(out)) == 5
    link = tmp_path / "link"
    link.symlink_to(image_folder)
    summary = run_index(
        [str(image_folder), "link/b", "./photos//a"],
        out,
        embedder=embedder,
        resume=True,
        show_progress=False,
    )
    assert (summary.skipped, summary.done + summary.failed) == (5, 4)
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 9
    texts = tmp_path / "t.txt"
    texts.write_text("one\ntwo\n")
    run_index(
        ["t.txt", str(texts)],
        tmp_path / "t.parquet",
        kind="text",
        embedder=embedder,
        show_progress=False,
    )
    assert _ids(tmp_path / "t.parquet") == ["t.txt#line=1", "t.txt#line=2"]


# -- texts that are not valid Unicode ----------------------------------------------------------


def test_bad_unicode_in_text_sources_becomes_error_rows(tmp_path, tiny_model_path, capsys):
    (tmp_path / "a.txt").write_bytes(b"fine line\nbad \xff byte\n\xed\xa0\x80 encoded surrogate\n")
    (tmp_path / "b.jsonl").write_text(
        '{"text": "lone \\ud800 surrogate"}\n{"text": "good"}\n{"text": "\\udfff"}\n',
        encoding="utf-8",
    )
    column = pa.array([b"ok", b"\xff not utf-8"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"text": column}), tmp_path / "c.parquet")
    out = tmp_path / "out.parquet"
    sources = [str(tmp_path / n) for n in ("a.txt", "b.jsonl", "c.parquet")]
    options = ["--kind", "text", "--out", str(out), "--model", tiny_model_path, "--no-progress"]
    code = main(["index", *sources, *options])
    assert code == 0, capsys.readouterr().err
    rows = {r["id"].removeprefix(f"{tmp_path}/"): r for r in pq.read_table(out).to_pylist()}
    errors = {key: row["error"] for key, row in rows.items()}
    assert errors == {
        "a.txt#line=1": None,
        "a.txt#line=2": "line 2 is not UTF-8 text (byte 0xff at byte 5)",
        "a.txt#line=3": "line 3 is not UTF-8 text (byte 0xed at byte 1)",
        "b.jsonl#line=1": "line 1: 'text' holds a lone surrogate U+D800 at character 6",
        "b.jsonl#line=2": None,
        "b.jsonl#line=3": "line 3: 'text' holds a lone surrogate U+DFFF at character 1",
        "c.parquet#row=0": None,
        "c.parquet#row=1": "row 1: 'text' is bytes that are not UTF-8, not a string",
    }
    assert all((row["embedding"] is None) == (row["error"] is not None) for row in rows.values())
    assert "indexed 3 done, 5 failed" in capsys.readouterr().out


# -- unusable arguments: one sentence, exit 2, no model loaded ---------------------------------


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: d.joinpath("empty").mkdir() or "empty", [], "empty: matches no image file"),
        (lambda d: "nothing/*.png", [], "nothing/*.png: matches no image file"),
        (lambda d: "gone", [], "gone: no such file or folder"),
        (lambda d: "gone/", ["--kind", "text"], "gone/: no such file or folder"),
        (
            lambda d: d.joinpath("looks.jpg").mkdir() or "looks.jpg",
            [],
            "looks.jpg: matches no image file",
        ),
        (
            lambda d: d.joinpath("n.txt").write_text("hello\n") and "n.txt",
            [],
            "n.txt is a text file: pass --kind text to embed it",
        ),
        (
            lambda d: (
                (d.joinpath("txt").mkdir(), d.joinpath("txt/n.txt").write_text("x")) and "txt"
            ),
            [],
            "txt: matches no image file (it holds text files: pass --kind text)",
        ),
        (
            lambda d: pq.write_table(pa.table({"body": ["x"]}), d / "p.parquet") or "p.parquet",
            ["--kind", "text"],
            "p.parquet: no column 'text' (columns: ['body']); pick one with --text-column",
        ),
        (
            lambda d: d.joinpath("q.parquet").write_text("nope") and "q.parquet",
            ["--kind", "text"],
            "q.parquet: cannot read it as Parquet (ArrowInvalid)",
        ),
    ],
    ids=[
        "empty-folder",
        "glob-nothing",
        "missing-folder",
        "missing-folder-text",
        "folder-named-like-an-image",
        "text-file-as-image",
        "folder-of-texts-as-images",
        "parquet-without-the-column",
        "not-parquet",
    ],
)
def test_unusable_sources_are_one_sentence_before_the_model(
    make, extra, message, tmp_path, monkeypatch, no_model, capsys
):
    monkeypatch.chdir(tmp_path)
    source = make(tmp_path)
    code = main(["index", source, "--out", "o.parquet", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"clipbridge: {message}\n"
    assert not (tmp_path / "o.parquet").exists() and not parts_dir(tmp_path / "o.parquet").exists()
    assert not lock_path(tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--chunk-size", "0"], "argument --chunk-size: must be a positive integer, not '0'"),
        (["--batch-size", "-1"], "argument --batch-size: must be a positive integer, not '-1'"),
        (["--ray-concurrency", "0"], "argument --ray-concurrency: must be a positive integer"),
        (["--ray-num-gpus", "-1"], "argument --ray-num-gpus: must be a number >= 0, not '-1'"),
        (["--out", "/no/such/folder/o.parquet"], "no folder '/no/such/folder'"),
    ],
)
def test_bad_option_values_are_refused_at_parse_time(
    option, message, image_folder, tmp_path, no_model, capsys
):
    args = ["index", str(image_folder), "--out", str(tmp_path / "o.parquet"), *option]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_output_folder_that_cannot_be_written_is_one_sentence(
    image_folder, monkeypatch, no_model, capsys
):
    # /proc takes no new files, even from root, whom the parse-time permission check lets by
    code = main(["index", str(image_folder), "--out", "/proc/o.parquet"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("clipbridge: cannot write next to /proc/o.parquet: ")
        and err.count("\n") == 1
    )


def test_a_run_where_every_item_failed_exits_1_with_the_summary(tmp_path, tiny_model_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"no png")
    (bad / "b.jpg").write_bytes(b"no jpeg")
    options = ["--out", str(tmp_path / "o.parquet"), "--model", tiny_model_path, "--no-progress"]
    code = main(["index", str(bad), *options])
    captured = capsys.readouterr()
    assert code == 1
    assert "indexed 0 done, 2 failed, 0 skipped" in captured.out
    assert captured.err.startswith(f"clipbridge index: every item failed; the first: {bad}/a.png: ")
    assert "not a recognized image format" in captured.err
    assert pq.read_metadata(tmp_path / "o.parquet").num_rows == 2


# -- Ctrl-C and SIGTERM ------------------------------------------------------------------------

HANG_IN_SECOND_CHUNK = """
import sys, time
from clipbridge.index import pipeline
real, calls = pipeline.embed_items, []
def embed_items(embedder, items):
    calls.append(len(items))
    if len(calls) > 1:
        print("hanging", flush=True)
        while True:
            time.sleep(0.05)
    return real(embedder, items)
pipeline.embed_items = embed_items
from clipbridge.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_with_one_sentence_and_resume_finishes(
    signum, code, image_folder, tmp_path, tiny_model_path
):
    out = tmp_path / "out.parquet"
    args = [str(image_folder), "--out", str(out), "--model", tiny_model_path]
    args += ["--chunk-size", "3", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG_IN_SECOND_CHUNK, "index", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "hanging"
        deadline = time.monotonic() + 30
        while not list(parts_dir(out).glob("part-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code
    assert err == (
        "clipbridge index: interrupted: 3 of 9 done; rerun with --resume to embed the rest\n"
    )
    assert not lock_path(out).exists()
    assert main(["index", *args, "--resume"]) == 0
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 9


# -- Ray: an address with no cluster -----------------------------------------------------------


def test_ray_address_with_no_cluster_is_one_sentence_before_the_model(
    image_folder, tmp_path, monkeypatch, no_model, capsys
):
    from clipbridge.ray import indexing

    def no_cluster(address=None, **kwargs):
        # what ray.init(address="auto") raises when no Ray runs on the machine (Ray 2.x)
        raise ConnectionError(
            "Could not find any running Ray instance. Please specify the one to connect to by "
            "setting `--address` flag or `RAY_ADDRESS` environment variable."
        )

    monkeypatch.setattr(indexing, "connect", no_cluster)
    args = ["index", str(image_folder), "--out", str(tmp_path / "o.parquet")]
    assert main([*args, "--engine", "ray", "--ray-address", "auto"]) == 2
    assert capsys.readouterr().err == (
        "clipbridge: cannot connect to Ray at 'auto': Could not find any running Ray instance. "
        "Please specify the one to connect to by setting `--address` flag or `RAY_ADDRESS` "
        "environment variable. (start a cluster with 'ray start --head', or leave out "
        "--ray-address for a local Ray)\n"
    )
    assert not (tmp_path / "o.parquet").exists()
