"""Every ```python block in README.md and docs/*.md runs as-is and prints what the page says.

Every block runs; none is skipped. A block that needs something this machine lacks (the Jina API
and a key, a model on the Hugging Face Hub, a dataset download) is preceded, on the line right
above its opening fence, by an HTML comment ``<!-- given: NAME -->`` naming a stand-in from
``GIVEN`` below: a local Jina-API server, a hub cache holding a tiny checkpoint, a miniature of
the dataset file. Every block runs with ``CLIPBRIDGE_MODEL`` pointing at the tiny fixture model and
``HF_HUB_OFFLINE=1``, in a scratch folder that links the repository's README, docs/, examples/
and tests/ (so relative paths work as from the repository root, and written files stay out of it).

A block that prints is followed (after its closing fence and blank lines) by an HTML comment with
what it prints with that tiny model, invisible on the rendered page::

    <!-- output:
    (2, 96) float32
    -->

compared as doctest does with ELLIPSIS and NORMALIZE_WHITESPACE: ``...`` stands for anything
(write it for what the tiny random model makes meaningless, such as which photo ranks first).
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clipbridge import EmbedderConfig

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = ROOT / "tests" / "fixtures" / "tiny-jina-clip-v1"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GIVEN = re.compile(r"^<!--\s*given:(?P<name>.*?)-->\s*$")
OUTPUT = "<!-- output:"
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    given: str | None  # the stand-in it runs with (``<!-- given: NAME -->``), None if none
    output: str | None = None  # what it prints (the ``<!-- output: -->`` after it), None if none

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, with the ``given`` marker right above each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match["lang"]:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{path.name}:{i + 1}: unclosed code fence"
        if match["lang"] in ("python", "py"):
            marker = GIVEN.match(lines[i - 1].strip()) if i else None
            given = marker["name"].strip() if marker else None
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(path, i + 1, code, given, _output_after(lines, end + 1)))
        i = end + 1
    return blocks


def _output_after(lines: list[str], start: int) -> str | None:
    """The text of an ``<!-- output: ... -->`` comment after blank lines from ``start``, or None."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or not lines[i].startswith(OUTPUT):
        return None
    first = lines[i][len(OUTPUT) :].strip()
    end = next((j for j in range(i, len(lines)) if lines[j].rstrip().endswith("-->")), None)
    assert end is not None, f"line {i + 1}: unclosed output comment"
    body = ([first] if first else []) + lines[i + 1 : end + 1]
    body[-1] = body[-1].rstrip().removesuffix("-->")
    return "\n".join(body).strip() + "\n"


def output_matches(want: str, got: str) -> bool:
    """``got`` is what ``want`` describes (doctest's ELLIPSIS and NORMALIZE_WHITESPACE)."""
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return doctest.OutputChecker().check_output(want, got, flags)


BLOCKS = [block for path in DOCS for block in python_blocks(path)]


# -- stand-ins for what a block needs and this machine lacks ------------------------------------
@contextlib.contextmanager
def _jina_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Jina API: a local server speaking its wire format (tiny model), the default base URL
    pointed at it and ``JINA_API_KEY`` set, so the block runs exactly as written."""
    from api_server import JinaApiServer

    from clipbridge.backends.api import KNOWN_DIMENSIONS

    with JinaApiServer(str(TINY_MODEL), model_name="jina-clip-v1") as server:
        defaults = dict(EmbedderConfig.__init__.__kwdefaults__)
        monkeypatch.setattr(
            EmbedderConfig.__init__, "__kwdefaults__", {**defaults, "base_url": server.url}
        )
        monkeypatch.setenv("JINA_API_KEY", server.api_key)
        # the stand-in runs the tiny model: its width is learned from the answer, not assumed
        monkeypatch.delitem(KNOWN_DIMENSIONS, "jina-clip-v1")
        yield
        assert server.hits, "the block never reached the stand-in API"


@contextlib.contextmanager
def _hub_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``openai/clip-vit-base-patch16`` in the local hub cache, as a tiny random CLIP."""
    from tiny_clip import save_tiny_clip

    commit = "0" * 40
    repo = tmp_path / "hf-cache" / "models--openai--clip-vit-base-patch16"
    save_tiny_clip(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    yield


@contextlib.contextmanager
def _onnx_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ONNX export cache in the test session's scratch folder (one export for every block),
    never in the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / "docs-onnx-cache"))
    yield


def _karpathy(name: str, folder: str, filepath: str) -> Callable[..., Any]:
    """A two-image miniature of Karpathy's ``dataset_*.json`` and the target folder."""

    @contextlib.contextmanager
    def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        images = [
            {
                "split": split,
                "filepath": filepath,
                "filename": f"{i}.jpg",
                "sentences": [{"raw": f"caption {i}.{j}"} for j in range(2)],
            }
            for i, split in enumerate(("test", "train"))
        ]
        (tmp_path / name).write_text(json.dumps({"images": images}))
        (tmp_path / folder).mkdir()
        yield
        rows = [json.loads(line) for line in (tmp_path / folder / "captions.jsonl").open()]
        prefix = f"{filepath}/" if folder == "coco" else ""
        assert rows == [
            {"image": f"{prefix}0.jpg", "caption": "caption 0.0"},
            {"image": f"{prefix}0.jpg", "caption": "caption 0.1"},
        ]

    return setup


GIVEN_SETUPS: dict[str, Callable[..., Any]] = {
    "jina-api": _jina_api,
    "hub-clip": _hub_clip,
    "onnx-cache": _onnx_cache,
    "karpathy-flickr30k": _karpathy("dataset_flickr30k.json", "flickr30k", "flickr30k-images"),
    "karpathy-coco": _karpathy("dataset_coco.json", "coco", "val2014"),
}


def test_docs_are_there_and_have_code():
    names = {p.name for p in DOCS}
    for page in ("index.md", "quickstart.md", "backends.md", "configuration.md", "cli.md"):
        assert page in names
    assert "troubleshooting.md" in names
    assert len(BLOCKS) >= 8


def test_block_parser_reads_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n<!-- given: jina-api -->\n```python\ny = 2\n```\n"
        "```bash\nls\n```\n<!-- given: -->\n```python\nz = 3\n```\n\n<!-- output:\n3\n  4 -->\n"
        "```python\nw = 4\n```\n<!-- output: 4 -->\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.given, b.output) for b in blocks] == [
        (2, "x = 1\n", None, None),
        (6, "y = 2\n", "jina-api", None),
        (13, "z = 3\n", "", "3\n  4\n"),
        (20, "w = 4\n", None, "4\n"),
    ]


def test_output_matching_is_doctest_like():
    assert output_matches("(2, 96) float32\n", "(2, 96)  float32\n")
    assert output_matches("a -> ...jpg (...)\n", "a -> examples/data/cat.jpg (0.072)\n")
    assert not output_matches("(2, 96) float32\n", "(2, 768) float32\n")
    assert not output_matches("True\n", "False\n")


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_python_block_runs(block, tiny_model_path, tmp_path, monkeypatch, capsys):
    with contextlib.ExitStack() as stack:
        _run_block(block, tiny_model_path, tmp_path, monkeypatch, capsys, stack)


def _run_block(block, tiny_model_path, tmp_path, monkeypatch, capsys, stack):
    # The repository root as the block sees it, but files the block writes land in tmp_path.
    for name in ("README.md", "docs", "examples", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPBRIDGE_MODEL", str(Path(tiny_model_path).relative_to(ROOT)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    if block.given is not None:
        assert block.given in GIVEN_SETUPS, f"{block.id}: no stand-in named {block.given!r}"
        stack.enter_context(GIVEN_SETUPS[block.given](tmp_path, monkeypatch))
    code = compile(block.code, block.id, "exec")
    exec(code, {"__name__": "__docs__"})
    printed = capsys.readouterr().out
    if block.output is None:
        assert not printed, f"{block.id} prints; add after it:\n<!-- output:\n{printed}-->"
    else:
        assert output_matches(block.output, printed), (
            f"{block.id} printed:\n{printed}\nthe page says:\n{block.output}"
        )


def test_configuration_page_documents_every_field_with_its_default():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", text, re.M))
    fields = {f.name: f.default for f in dataclasses.fields(EmbedderConfig)}
    assert sorted(rows) == sorted(fields), "docs/configuration.md and EmbedderConfig differ"
    for name, default in fields.items():
        assert rows[name] == repr(default), f"{name}: documented {rows[name]}, is {default!r}"


def test_relative_links_between_doc_pages_resolve():
    for path in sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


def test_readme_test_command_is_what_ci_runs():
    """The README's test command and .ci/run are the same steps, in the same order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Run the tests") :]
    command = _bash_blocks_in(section)[0].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    steps = [line for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert command.split(" && ") == steps


def _bash_blocks_in(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```$", text, re.M | re.S)


def test_install_instructions_say_what_is_true():
    """Not on an index: install from a checkout or a wheel; CPU torch from PyTorch's own index."""
    for name in ("README.md", "docs/quickstart.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        commands = "\n".join(_bash_blocks_in(text))
        assert not re.search(r"pip install \"?clipbridge\b", commands), name
        assert 'pip install ".[all]"' in commands, name
        cpu = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
        assert cpu in commands, name
        assert "python -m build --wheel" in text, name
