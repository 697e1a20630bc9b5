from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from clipbridge import Embedder
from clipbridge.cli import main


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
    assert code == 0 and "wrote 3 x 96" in capsys.readouterr().out
    vecs = np.load(out)
    emb = Embedder(tiny_model_path)
    np.testing.assert_allclose(vecs[:2], emb.embed_texts(["a cat", "a dog"]), atol=1e-6)
    np.testing.assert_allclose(vecs[2], emb.embed_images([fixture_images[0]])[0], atol=1e-6)


def test_embed_to_jsonl(tiny_model_path, tmp_path):
    out = tmp_path / "v.jsonl"
    assert main(["embed", "--model", tiny_model_path, "--text", "x", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["type"] == "text" and len(rows[0]["embedding"]) == 96


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


def test_bad_image_exits_2_with_message(tiny_model_path, tmp_path, capsys):
    code = main(["embed", "--model", tiny_model_path, "--image", str(tmp_path / "no.png")])
    assert code == 2
    assert "input 0: file not found" in capsys.readouterr().err
