"""The local backend asks OpenMP for sleeping idle threads before torch loads, unless told."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import os, sys
{before}
from clipbridge import Embedder
Embedder(sys.argv[1], device="cpu")
print(os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
"""


def probe(tiny_model_path: str, *, before: str = "", **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = PROBE.format(before=before)
    done = subprocess.run(
        [sys.executable, "-c", code, tiny_model_path],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_local_backend_sets_passive_before_torch_loads(tiny_model_path):
    assert probe(tiny_model_path) == "PASSIVE True"


@pytest.mark.parametrize("value", ["ACTIVE", "PASSIVE"])
def test_a_policy_the_user_set_wins(tiny_model_path, value):
    assert probe(tiny_model_path, OMP_WAIT_POLICY=value) == f"{value} True"


def test_nothing_is_set_once_torch_is_loaded(tiny_model_path):
    # too late to matter: OpenMP read its settings when torch loaded
    assert probe(tiny_model_path, before="import torch") == "None True"
