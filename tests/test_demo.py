"""`clipbridge demo`: each framework's real index, the printed table, the HTML page, the errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipbridge import Embedder
from clipbridge.cli import main
from clipbridge.demo.frameworks import ADAPTERS, DemoItem, DemoRun
from clipbridge.demo.html import render_html
from clipbridge.demo.run import (
    DEFAULT_TEXT_TO_IMAGE,
    DEFAULT_TEXT_TO_TEXT,
    find_images_folder,
    load_corpus,
    quality_lines,
    run_demo,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "core" / "demo" / "data"  # package data: the wheel ships it
FIXTURES = ROOT / "tests" / "fixtures"
UNTRAINED = "warning: the checkpoint looks untrained"
FRAMEWORKS = ["llama-index", "langchain", "haystack"]
ROW = re.compile(r"^(?P<lead>.*?)\s+(?P<rank>\d+)\s+(?P<score>-?\d+\.\d{4})\s+(?P<result>\S.*)$")


def _table_rows(stdout: str) -> list[tuple[int, float, str]]:
    rows = []
    for line in stdout.splitlines():
        match = ROW.match(line)
        if match and not line.startswith(("clipbridge", "indexed", "wrote")):
            rows.append((int(match["rank"]), float(match["score"]), match["result"]))
    return rows


# -- the bundled photos ---------------------------------------------------------------------------
def test_demo_photos_are_package_data_and_examples_share_them():
    assert find_images_folder() == DATA
    assert (ROOT / "examples" / "data").resolve() == DATA.resolve()  # one copy in git


def test_example_data_is_small_captioned_and_licensed():
    images = sorted(p for p in DATA.iterdir() if p.suffix == ".jpg")
    captions = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
    licenses = (DATA / "LICENSES.md").read_text(encoding="utf-8")
    assert 10 <= len(images) <= 12
    assert sorted(captions) == [p.name for p in images]
    for path in images:
        assert path.stat().st_size <= 60_000, path.name
        with Image.open(path) as img:
            assert img.format == "JPEG" and max(img.size) == 320, path.name
        assert f"`{path.name}`" in licenses, f"{path.name} has no licence entry"
        assert len(captions[path.name].split()) >= 4, path.name


# -- one run per framework through the CLI --------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_demo_cli_prints_ranked_table_and_writes_html(framework, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "demo.html"
    args = ["demo", "--framework", framework, "--model", tiny_model_path, "--out", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"clipbridge demo: {framework}" in captured.out
    # the random-weight checkpoint: 1 of 12 captions finds its photo (chance), and the run says so
    assert "caption -> photo recall@1: 1/12 captions find their photo first (chance: 1/12)" in (
        captured.out
    )
    assert UNTRAINED in captured.out
    assert re.search(r"^query\s+kind\s+rank\s+score\s+result$", captured.out, re.M)
    assert "12/12" in captured.err  # the progress bar ran over the 12 photos
    rows = _table_rows(captured.out)
    n_queries = len(DEFAULT_TEXT_TO_IMAGE) + 2 + len(DEFAULT_TEXT_TO_TEXT)
    assert len(rows) == 3 * n_queries  # top 3 per query
    for start in range(0, len(rows), 3):
        ranks = [r[0] for r in rows[start : start + 3]]
        scores = [r[1] for r in rows[start : start + 3]]
        assert ranks == [1, 2, 3]
        assert scores == sorted(scores, reverse=True)
    for kind in ("text->image", "image->image", "text->text"):
        assert kind in captured.out

    html = out.read_text(encoding="utf-8")
    for path in sorted(DATA.glob("*.jpg")):
        assert f'data-file="{path.name}"' in html, f"{path.name} missing from the page"
    assert html.count('src="data:image/jpeg;base64,') >= 12
    for _, score, _ in rows:
        assert f"{score:.4f}" in html
    assert "Text → image" in html and "Image → image" in html and "Text → text" in html
    assert "1/12 captions find their photo first" in html
    assert 'id="untrained"' in html and "This checkpoint looks untrained." in html


# -- the frameworks return what a brute-force search over the core's vectors returns ---------------
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_demo_hits_match_brute_force_search(framework, version, tiny_model_path):
    # Text queries are search queries (task="retrieval.query": v2 adds its instruction).
    model = tiny_model_path if version == "v1" else str(FIXTURES / "tiny-jina-clip-v2")
    items = load_corpus(DATA)
    run = run_demo(framework, items, model=model, show_progress=False, top_k=4)
    emb = Embedder(model)
    names = [i.name for i in items]
    images = emb.embed_images([i.path for i in items])
    captions = emb.embed_texts([i.caption for i in items])
    assert run.dimension == emb.dimension
    assert [r.kind for r in run.results] == (
        ["text->image"] * 4 + ["image->image"] * 2 + ["text->text"] * 3
    )
    for res in run.results:
        if res.kind == "image->image":
            query = images[names.index(res.query)]
            scores = images @ query
            scores[names.index(res.query)] = -np.inf  # the query image itself is left out
            corpus = images
        else:
            query = emb.embed_texts([res.query], task="retrieval.query")[0]
            corpus = images if res.kind == "text->image" else captions
            scores = corpus @ query
        best = np.argsort(-scores)[:4]
        assert [h.file for h in res.hits] == [names[i] for i in best], (res.kind, res.query)
        # float32 cosines computed twice (the store's way and here): ~1e-7 apart
        np.testing.assert_allclose([h.score for h in res.hits], scores[best], atol=1e-6)
        assert res.seconds > 0
    # recall@1 through the framework's index == captions whose best photo is their own, brute force
    own = np.argmax(captions @ images.T, axis=1) == np.arange(len(items))
    assert run.recall_hits == int(own.sum())


def _run(recall_hits: int, n: int) -> DemoRun:
    items = [DemoItem(p, f"photo {p.stem}") for p in sorted(DATA.glob("*.jpg"))[:n]]
    return DemoRun("langchain", "m", "local", "cpu", 8, items, 0.1, recall_hits=recall_hits)


@pytest.mark.parametrize(
    ("hits", "n", "untrained"), [(11, 12, False), (3, 12, False), (2, 12, True), (0, 12, True)]
)
def test_recall_stat_and_untrained_verdict(hits, n, untrained):
    """At most 2x chance (2 of n captions) is "looks untrained"; the page and terminal agree."""
    run = _run(hits, n)
    lines = quality_lines(run)
    assert lines[0] == (
        f"caption -> photo recall@1: {hits}/{n} captions find their photo first (chance: 1/{n})"
    )
    assert (len(lines) == 2 and lines[1].startswith(UNTRAINED)) is untrained
    html = render_html(run)
    assert f"{hits}/{n} captions find their photo first" in html
    assert ('id="untrained"' in html) is untrained


def test_too_few_photos_give_no_verdict():
    """With 5 photos chance alone finds one caption in five: the stat shows, no verdict."""
    run = _run(0, 5)
    assert quality_lines(run) == [
        "caption -> photo recall@1: 0/5 captions find their photo first (chance: 1/5)"
    ]
    assert 'id="untrained"' not in render_html(run)


def test_demo_own_folder_tsv_captions_and_queries(tiny_model_path, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("rgb_square_64.png", "rgb_wide_96x48.jpg", "gray_tall_50x70.png"):
        shutil.copy(ROOT / "tests" / "fixtures" / "images" / name, folder / name)
    (folder / "captions.tsv").write_text("rgb_square_64.png\tA red square.\n", encoding="utf-8")
    out = tmp_path / "page.html"
    args = ["demo", "--framework", "haystack", "--model", tiny_model_path, "--images", str(folder)]
    args += ["--query", "a red square", "--query-image", "rgb_wide_96x48.jpg", "--top-k", "2"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    rows = _table_rows(stdout)
    assert len(rows) == 2 + 2 + 2  # text->image, image->image, text->text; 2 hits each
    assert "rgb_wide_96x48.jpg  image->image" in stdout
    assert "gray tall 50x70" in stdout  # a missing caption falls back to the file name
    html = out.read_text(encoding="utf-8")
    assert all(f'data-file="{p.name}"' in html for p in folder.iterdir() if p.suffix != ".tsv")


def test_demo_errors_are_one_line_exit_2(tiny_model_path, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["demo", "--model", tiny_model_path, "--images", str(empty)]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["demo", "--model", tiny_model_path, "--query-image", "nope.jpg"]) == 2
    assert "'nope.jpg' is not one of the indexed images" in capsys.readouterr().err
    # A framework whose extra is not installed: one line naming the pip extra, before any load.
    monkeypatch.setitem(ADAPTERS, "langchain", ("clipbridge_no_such_module", "langchain"))
    assert main(["demo", "--framework", "langchain", "--model", "/no/such/model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert 'pip install "clipbridge[langchain]"' in err


def test_demo_offline_without_cached_model_says_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), JINA_API_KEY="")
    clipbridge = Path(sys.executable).with_name("clipbridge")
    command = [str(clipbridge)] if clipbridge.exists() else [sys.executable, "-m", "clipbridge.cli"]
    proc = subprocess.run(
        [*command, "demo", "--model", "jinaai/jina-clip-v1", "--out", str(tmp_path / "d.html")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert message.count("\n") == 0, message
    assert len(re.findall(r"\.(\s|$)", message)) == 1, f"not one sentence: {message}"
    assert "--model PATH" in message and "--backend api" in message
    assert proc.stdout == ""
    assert not (tmp_path / "d.html").exists()


def test_demo_page_to_stdout_keeps_stdout_clean(tiny_model_path, capsys):
    """``--out -``: stdout carries the page and nothing else; the table goes to stderr."""
    args = ["demo", "--framework", "langchain", "--model", tiny_model_path, "--no-progress"]
    assert main([*args, "--top-k", "2", "--out", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("<!doctype html>") and captured.out.endswith("</html>")
    assert captured.out.count("<html") == 1
    assert "clipbridge demo: langchain" in captured.err and UNTRAINED in captured.err
    rows = _table_rows(captured.err)
    assert len(rows) == 2 * (len(DEFAULT_TEXT_TO_IMAGE) + 2 + len(DEFAULT_TEXT_TO_TEXT))
    assert all(f"{score:.4f}" in captured.out for _, score, _ in rows)


# -- the photos travel in the wheel ------------------------------------------------------------
def test_wheel_ships_the_demo_photos_and_the_demo_finds_them(tmp_path):
    """Build the wheel from a copy of the sources; from the unpacked wheel, outside any checkout,
    the demo's default folder is the bundled photos (the demo itself runs in the tests above)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for name in ("core", "integrations"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip, "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("clipbridge-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    photos = sorted(p.name for p in DATA.iterdir())
    assert {f"clipbridge/demo/data/{name}" for name in photos} <= names
    assert "clipbridge/py.typed" in names

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code = (
        "from clipbridge.demo import find_images_folder, load_corpus; "
        "folder = find_images_folder(); print(folder); "
        "print(*(f'{i.name}: {i.caption}' for i in load_corpus(folder)), sep=chr(10))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder, *corpus = proc.stdout.splitlines()
    assert folder == str(tmp_path / "site" / "clipbridge" / "demo" / "data")  # the wheel's copy
    captions = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
    assert corpus == [f"{name}: {caption}" for name, caption in sorted(captions.items())]
