"""``clipbridge serve`` on the command line: ready line, keys from the environment, the bind
warning, and a clean stop on SIGTERM that lets in-flight requests finish."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serve_helpers import KEY

from clipbridge.cli.main import build_parser, main
from clipbridge.serve import command


def test_the_options_become_settings(tiny_model_path, monkeypatch):
    monkeypatch.setenv("CLIPBRIDGE_SERVE_API_KEYS", "env-key-1,env-key-2")
    args = build_parser().parse_args(
        [
            "serve",
            "--model",
            tiny_model_path,
            "--max-batch-size",
            "16",
            "--max-wait-ms",
            "0",
            "--max-queue",
            "64",
            "--max-inputs",
            "8",
            "--max-request-bytes",
            "1000",
            "--allow-image-urls",
            "--served-model-name",
            "jina-clip-v1",
            "--batch-size",
            "4",
        ]
    )
    settings = command.settings_from_args(args)
    assert settings.api_keys == ("env-key-1", "env-key-2")
    assert (settings.max_batch_size, settings.max_wait_ms, settings.max_queue) == (16, 0, 64)
    assert (settings.max_inputs, settings.max_request_bytes) == (8, 1000)
    assert settings.allow_image_urls and not settings.allow_private_urls
    assert settings.model_name == "jina-clip-v1" and settings.config.batch_size == 4
    args = build_parser().parse_args(["serve", "--api-key", "a", "--api-key", "b"])
    assert command.settings_from_args(args).api_keys == ("a", "b")  # flags win over the env


def test_binding_elsewhere_without_a_key_prints_a_warning(monkeypatch, capsys, tiny_model_path):
    from clipbridge.serve import runner

    calls = []
    monkeypatch.setattr(runner, "run", lambda settings, **kw: calls.append(kw))
    monkeypatch.delenv("CLIPBRIDGE_SERVE_API_KEYS", raising=False)
    assert main(["serve", "--model", tiny_model_path, "--host", "0.0.0.0"]) == 0
    assert "WARNING" in capsys.readouterr().err and calls[0]["host"] == "0.0.0.0"
    assert main(["serve", "--model", tiny_model_path, "--host", "0.0.0.0", "--api-key", KEY]) == 0
    assert main(["serve", "--model", tiny_model_path]) == 0
    assert "WARNING" not in capsys.readouterr().err


@pytest.mark.timeout(180)
def test_ready_line_then_sigterm_finishes_in_flight_requests(tiny_model_path):
    env = {**os.environ, "CLIPBRIDGE_SERVE_API_KEYS": KEY, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clipbridge.cli",
            "serve",
            "--model",
            tiny_model_path,
            "--port",
            "0",
            "--max-wait-ms",
            "1500",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(
            r"ready at (http://127\.0\.0\.1:\d+)/v1/embeddings, model "
            r"tiny-jina-clip-v1 .*device cpu",
            line,
        )
        assert match, line + proc.stderr.read()
        url = match[1]
        headers = {"Authorization": f"Bearer {KEY}"}
        result: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: result.append(
                httpx.post(
                    f"{url}/v1/embeddings", json={"input": ["late"]}, headers=headers, timeout=60
                )
            )
        )
        thread.start()
        deadline = time.monotonic() + 30
        while "clipbridge_queue_depth 1.0" not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # the request is still waiting for its batch
        thread.join(60)
        assert result and result[0].status_code == 200 and len(result[0].json()["data"]) == 1
        assert proc.wait(60) == 0
        err = proc.stderr.read()
        assert KEY not in err
        assert err.strip().splitlines() == [
            "clipbridge serve: stopped on SIGTERM after answering the requests in flight; run "
            "the same command to serve again"
        ], err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if the model would load (the mistakes must be caught before)."""
    from clipbridge.serve import runner

    def refuse(settings):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runner, "load_embedder", refuse)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--api-key", ""], "argument --api-key: is empty or blank (an unset variable?)"),
        (["--api-key", "  "], "argument --api-key: is empty or blank"),
        (["--max-inputs", "600", "--max-queue", "512"], "--max-inputs 600 is above --max-queue"),
        (["--max-wait-ms", "-1"], "argument --max-wait-ms: must be a number of milliseconds"),
        (["--max-wait-ms", "nan"], "argument --max-wait-ms: must be a number of milliseconds"),
        (["--port", "99999"], "argument --port: must be a port from 0 to 65535, not '99999'"),
        (["--port", "-5"], "argument --port: must be a port from 0 to 65535, not '-5'"),
    ],
)
def test_a_mistake_is_one_sentence_and_exit_2_before_the_model_loads(
    argv, says, tiny_model_path, capsys, no_model_load, monkeypatch
):
    monkeypatch.delenv("CLIPBRIDGE_SERVE_API_KEYS", raising=False)
    try:
        code = main(["serve", "--model", tiny_model_path, *argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_port_in_use_is_one_sentence_before_the_model_loads(
    tiny_model_path, capsys, no_model_load
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", tiny_model_path, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"clipbridge: port {port} on 127.0.0.1 is already in use (another server is listening "
        "there); pick another --port, or --port 0 for a free one\n"
    )


@pytest.mark.parametrize("model", ["missing-folder", "no-such-org/no-such-model"])
def test_a_missing_model_is_one_sentence_and_exit_2(model, tmp_path, monkeypatch):
    # A subprocess, as a user runs it: no uvicorn start-up traceback, exit 2, port released.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if model == "missing-folder":
        model = str(tmp_path / model)
    proc = subprocess.run(
        [sys.executable, "-m", "clipbridge.cli", "serve", "--model", model, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clipbridge: ") and model in lines[0], lines
