"""Every ```python block in README.md and docs/*.md runs as-is and prints what the page says.

Convention: a block that needs the network or a key is preceded, on the line right above its
opening fence, by an HTML comment ``<!-- skip: reason -->``; it is skipped with that reason.
Every other block runs with ``CLIPBRIDGE_MODEL`` pointing at the tiny fixture model and
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

import dataclasses
import doctest
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from clipbridge import EmbedderConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"^<!--\s*skip:(?P<reason>.*?)-->\s*$")
OUTPUT = "<!-- output:"
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason, "" for a marker without one, None when not marked
    output: str | None = None  # what it prints (the ``<!-- output: -->`` after it), None if none

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, with the skip marker right above each."""
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
            marker = SKIP.match(lines[i - 1].strip()) if i else None
            skip = marker["reason"].strip() if marker else None
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(path, i + 1, code, skip, _output_after(lines, end + 1)))
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


def test_docs_are_there_and_have_code():
    names = {p.name for p in DOCS}
    for page in ("index.md", "quickstart.md", "backends.md", "configuration.md", "cli.md"):
        assert page in names
    assert "troubleshooting.md" in names
    assert len(BLOCKS) >= 8


def test_block_parser_reads_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n<!-- skip: needs JINA_API_KEY -->\n```python\ny = 2\n```\n"
        "```bash\nls\n```\n<!-- skip: -->\n```python\nz = 3\n```\n\n<!-- output:\n3\n  4 -->\n"
        "```python\nw = 4\n```\n<!-- output: 4 -->\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.skip, b.output) for b in blocks] == [
        (2, "x = 1\n", None, None),
        (6, "y = 2\n", "needs JINA_API_KEY", None),
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
    if block.skip is not None:
        assert block.skip, f"{block.id}: a skip marker needs a reason (<!-- skip: why -->)"
        pytest.skip(block.skip)
    # The repository root as the block sees it, but files the block writes land in tmp_path.
    for name in ("README.md", "docs", "examples", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPBRIDGE_MODEL", str(Path(tiny_model_path).relative_to(ROOT)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("JINA_API_KEY", raising=False)
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
