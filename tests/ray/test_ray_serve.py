"""``clipbridge serve --ray``: the serve app on Ray Serve answers our API backend like the
local backend (same vectors), with the same auth."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from clipbridge import AuthenticationError, Embedder, EmbedderConfig
from clipbridge.cli.main import build_parser
from clipbridge.serve import ServeSettings
from clipbridge.serve.on_ray import RayServeOptions, serve_on_ray
from clipbridge.serve.ray_command import options_from_args, stop_signals

pytestmark = pytest.mark.timeout(180)

KEY = "ray-serve-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_options_reach_the_deployment():
    args = build_parser().parse_args(
        [
            "serve",
            "--ray",
            "--replicas",
            "3",
            "--num-gpus",
            "1",
            "--port",
            "9001",
            "--autoscaling",
            '{"min_replicas": 1, "max_replicas": 8}',
            "--max-ongoing-requests",
            "16",
        ]
    )
    options = options_from_args(args)
    assert (options.replicas, options.num_gpus, options.port) == (3, 1.0, 9001)
    assert options.deployment_options() == {
        "ray_actor_options": {"num_gpus": 1.0, "num_cpus": 1.0},
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 8, "initial_replicas": 3},
        "max_ongoing_requests": 16,
    }
    plain = build_parser().parse_args(["serve"])
    assert plain.ray is False and options_from_args(plain).deployment_options()["num_replicas"] == 1


def test_serve_on_ray_answers_the_api_backend(
    ray_local, tiny_model_path, fixture_images, fixture_texts
):
    from ray import serve

    settings = ServeSettings(config=EmbedderConfig(model=tiny_model_path), api_keys=(KEY,))
    options = RayServeOptions(replicas=2, num_cpus=0.5, host="127.0.0.1", port=_free_port())
    url = serve_on_ray(settings, options)
    try:
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        # image_size: the tiny model's 32 px, what the API backend shrinks images to before upload
        remote = Embedder(
            tiny_model_path, backend="api", base_url=url, api_key=KEY, max_retries=0, image_size=32
        )
        local = Embedder(tiny_model_path)
        texts = [t for t in fixture_texts if t]
        np.testing.assert_allclose(remote.embed_texts(texts), local.embed_texts(texts), atol=1e-5)
        np.testing.assert_allclose(
            remote.embed_images(fixture_images), local.embed_images(fixture_images), atol=1e-5
        )
        wrong = Embedder(
            tiny_model_path, backend="api", base_url=url, api_key="nope", max_retries=0
        )
        with pytest.raises(AuthenticationError):
            wrong.embed_texts(["x"])
        status = serve.status().applications["clipbridge"]
        replicas = status.deployments["ClipBridgeServe"].replica_states
        assert replicas.get("RUNNING") == 2
        # /metrics answers from one replica per scrape and says which: both show up
        seen = set()
        for _ in range(40):
            scrape = httpx.get(f"{url}/metrics", timeout=30).text
            seen |= set(re.findall(r'clipbridge_replica_info\{replica="([^"]+)"\} 1\.0', scrape))
            if len(seen) == 2:
                break
        assert len(seen) == 2, seen
    finally:
        serve.shutdown()


def _descendants(pid: int) -> set[int]:
    """The processes started under ``pid`` (Linux /proc), e.g. a local Ray's gcs and raylet."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.timeout(400)
def test_cli_serve_ray_drains_and_stops_its_ray_on_sigterm(tiny_model_path):
    # What docker and systemd send: the command answers the request in flight, removes the
    # deployment, stops the local Ray it started (no Ray process left) and exits 0.
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(HF_HUB_OFFLINE="1", RAY_memory_monitor_refresh_ms="0")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clipbridge.cli",
            "serve",
            "--ray",
            "--model",
            tiny_model_path,
            "--port",
            str(port),
            "--num-cpus",
            "0.5",
            "--max-wait-ms",
            "1500",  # the request below waits for its batch while SIGTERM arrives
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert f"ready at http://127.0.0.1:{port}/v1/embeddings" in line, proc.stderr.read()
        ray_processes = _descendants(proc.pid)
        assert ray_processes  # gcs_server, raylet, workers
        result: list[httpx.Response] = []

        def request() -> None:
            result.append(
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/embeddings",
                    json={"model": "tiny-jina-clip-v1", "input": [{"text": "a cat"}]},
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=60,
                )
            )

        thread = threading.Thread(target=request)
        thread.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        thread.join(60)
        assert result and result[0].status_code == 200, result
        assert len(result[0].json()["data"][0]["embedding"]) == 96
        assert proc.wait(timeout=120) == 0
        err = proc.stderr.read()
        assert "clipbridge serve --ray: stopping on SIGTERM" in err, err
        assert "clipbridge serve --ray: stopped; run the same command" in err, err
        assert "Traceback" not in err and "Aborted" not in err, err
        deadline = time.monotonic() + 15
        while _alive(ray_processes) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(ray_processes), "Ray processes outlived the command"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigint_and_sigterm_both_request_a_clean_stop():
    for sig in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(sig)
        with stop_signals() as stop:
            threading.Timer(0.2, os.kill, (os.getpid(), sig)).start()
            assert stop.wait(poll=0.05) == sig
            os.kill(os.getpid(), sig)  # a second signal while stopping changes nothing
            assert stop.signal == sig
        assert signal.getsignal(sig) == before


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{min_replicas: 1}", "argument --autoscaling: is not valid JSON (Expecting property name"),
        ("[1, 2]", "argument --autoscaling: must be a JSON object"),
    ],
)
def test_bad_autoscaling_json_is_one_sentence_at_parse_time(value, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--ray", "--autoscaling", value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and len(err.strip().splitlines()) == 1, err
