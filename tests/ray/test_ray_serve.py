"""``clipbridge serve --ray``: the serve app on Ray Serve answers our API backend like the
local backend (same vectors), with the same auth."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest

from clipbridge import AuthenticationError, Embedder, EmbedderConfig
from clipbridge.cli.main import build_parser
from clipbridge.ray.command import _options_from_args
from clipbridge.ray.serving import RayServeOptions, serve_on_ray
from clipbridge.serve import ServeSettings

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
    options = _options_from_args(args)
    assert (options.replicas, options.num_gpus, options.port) == (3, 1.0, 9001)
    assert options.deployment_options() == {
        "ray_actor_options": {"num_gpus": 1.0, "num_cpus": 1.0},
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 8, "initial_replicas": 3},
        "max_ongoing_requests": 16,
    }
    plain = build_parser().parse_args(["serve"])
    assert (
        plain.ray is False and _options_from_args(plain).deployment_options()["num_replicas"] == 1
    )


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
    finally:
        serve.shutdown()


def test_cli_serve_ray_runs_until_ctrl_c(ray_local, tiny_model_path):
    # The command joins the test's Ray (--ray-address), deploys, serves, and removes the
    # deployment on Ctrl-C.
    address = ray_local.get_runtime_context().gcs_address
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clipbridge.cli",
            "serve",
            "--ray",
            "--ray-address",
            address,
            "--model",
            tiny_model_path,
            "--port",
            str(port),
            "--num-cpus",
            "0.5",
            "--api-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"ready at http://127.0.0.1:{port}/v1/embeddings" in line, proc.stderr.read()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/embeddings",
            json={"model": "tiny-jina-clip-v1", "input": [{"text": "a cat"}]},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["data"][0]["embedding"]) == 96
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
