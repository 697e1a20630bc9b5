"""Every script in examples/ runs with the tiny fixture model and finds what the core ranks first.

The scripts run as subprocesses (from another folder, as a user would), all three at once. The
optional LLM step talks to a fake OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from clipbridge import Embedder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = ["llama_index_rag.py", "langchain_rag.py", "haystack_rag.py"]
QUESTION = "Which photo shows something to drink?"
FAKE_ANSWER = "The espresso photo, coffee.jpg."
LLM_PACKAGES = {  # script -> the optional package its LLM step imports
    "llama_index_rag.py": "llama_index.llms.openai",
    "langchain_rag.py": "langchain_openai",
    "haystack_rag.py": "haystack.components.generators.chat",
}
ROW = re.compile(r"^(text|image)\s+(-?\d+\.\d{4})\s+(.+)$")


class _FakeOpenAI(http.server.BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions with a fixed reply and records the prompts."""

    prompts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.prompts.append(json.dumps(body["messages"]))
        reply = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": FAKE_ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def runs(tiny_model_path, fake_llm, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Run the three scripts concurrently from a scratch folder, with an LLM key and base URL."""
    cwd = tmp_path_factory.mktemp("examples-cwd")
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_llm}
    env.pop("JINA_API_KEY", None)
    procs = {
        script: subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLES / script),
                "--model",
                str(Path(tiny_model_path).resolve()),
            ],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script in SCRIPTS
    }
    done = {}
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        done[script] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.fixture(scope="module")
def expected_rows(tiny_model_path) -> list[tuple[str, float, str]]:
    """Top 3 captions, then top 3 photos, for QUESTION by brute force over the core's vectors."""
    captions = json.loads((EXAMPLES / "data" / "captions.json").read_text(encoding="utf-8"))
    names = list(captions)
    emb = Embedder(tiny_model_path)
    query = emb.embed_texts([QUESTION])[0]
    text_scores = emb.embed_texts(list(captions.values())) @ query
    image_scores = emb.embed_images([EXAMPLES / "data" / n for n in names]) @ query
    rows = [("text", float(text_scores[i]), captions[names[i]]) for i in np.argsort(-text_scores)]
    rows = rows[:3]
    rows += [("image", float(image_scores[i]), names[i]) for i in np.argsort(-image_scores)[:3]]
    return rows


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_retrieves_what_the_core_ranks_first(script, runs, expected_rows):
    proc = runs[script]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"question: {QUESTION}\n")
    rows = [m.groups() for m in map(ROW.match, proc.stdout.splitlines()) if m]
    assert [(kind, shown) for kind, _, shown in rows] == [(k, s) for k, _, s in expected_rows]
    # printed with 4 decimals: half a unit of the last digit, plus float32 noise (~1e-7)
    np.testing.assert_allclose(
        [float(score) for _, score, _ in rows], [s for _, s, _ in expected_rows], atol=5e-5 + 1e-6
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_llm_step_answers_or_says_what_to_install(script, runs, expected_rows):
    stdout = runs[script].stdout
    if _importable(LLM_PACKAGES[script]):
        assert f"answer: {FAKE_ANSWER}" in stdout
        top_photo = expected_rows[3][2]
        assert any(f"photo {top_photo}" in prompt for prompt in _FakeOpenAI.prompts)
    else:
        assert "LLM step skipped: pip install" in stdout


def test_examples_skip_the_llm_step_without_a_key(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for script in SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"example_{script[:-3]}", EXAMPLES / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        args = ([], []) if script == "langchain_rag.py" else ([],)
        assert module.answer(QUESTION, *args) is None
        assert "LLM step skipped: set OPENAI_API_KEY" in capsys.readouterr().out


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
