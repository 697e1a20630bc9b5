"""Shared helpers for the benchmark scripts: a real-size random checkpoint, timers, RSS.

Speed does not depend on weight values, so the benchmarks use a seeded random checkpoint with
jina-clip-v1's real sizes (768 wide, 12 text + 12 vision layers) instead of downloading 900 MB.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tiny-jina-clip-v1"
CACHE = Path(os.environ.get("CLIPBRIDGE_BENCH_DIR", "/tmp/clipbridge-bench"))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

# jinaai/jina-clip-v1's config.json, reduced to the fields the native model reads.
REAL_CONFIG: dict[str, Any] = {
    "model_type": "jina_clip",
    "add_projections": False,
    "projection_dim": 768,
    "text_config": {
        "hf_model_name_or_path": "jinaai/jina-bert-flash-implementation",  # picks the family
        "hf_model_config_kwargs": {"use_flash_attn": False},
        "pooler_type": "mean_pooler",
        "proj_type": None,
    },
    "vision_config": {
        "width": 768,
        "layers": 12,
        "head_width": 64,
        "patch_size": 16,
        "image_size": 224,
        "mlp_ratio": 2.6667,
        "pt_hw_seq_len": 14,
        "intp_freq": True,
        "rope_embeddings": True,
        "subln": True,
        "naive_swiglu": True,
        "post_norm": False,
        "proj_type": None,
        "ls_init_value": None,
    },
}


def set_threads(n: int = 2) -> None:
    import torch

    torch.set_num_threads(n)


def real_size_checkpoint(seed: int = 0) -> Path:
    """A jina-clip-v1-sized folder (config, random safetensors, tokenizer), built once."""
    folder = CACHE / f"jina-clip-v1-random-{seed}"
    if (folder / "model.safetensors").is_file():
        config = json.dumps(REAL_CONFIG, indent=2)
        if (folder / "config.json").read_text() != config:  # written by an older REAL_CONFIG
            (folder / "config.json").write_text(config)
        return folder
    import torch
    from safetensors.torch import save_file

    from clipbridge.models.jina_clip import JinaClipConfig, JinaClipModel

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.manual_seed(seed)
    model = JinaClipModel(JinaClipConfig.from_dict(REAL_CONFIG))
    with torch.no_grad():  # EVA-02 inits these at zero; give them values like a trained model
        model.vision_model.cls_token.normal_(std=0.02)
        model.vision_model.pos_embed.normal_(std=0.02)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(REAL_CONFIG, indent=2))
    pre = json.loads((FIXTURE / "preprocessor_config.json").read_text())
    pre["size"] = 224
    (tmp / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(FIXTURE / name, tmp / name)
    del model, state
    tmp.rename(folder)
    return folder


def token_ids(length: int, seed: int = 0, vocab: int = 30528) -> list[int]:
    """``length`` ids: [CLS] random word pieces [SEP] (no padding id inside)."""
    import random

    rng = random.Random(seed * 100_003 + length)
    return [101, *(rng.randrange(1000, vocab) for _ in range(length - 2)), 102]


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> float:
    """Best wall seconds of ``repeat`` calls (best-of filters noise from other processes)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict[str, str]:
    """CPU model, cores and library versions for the results table."""
    import numpy
    import PIL
    import torch

    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
    info = {
        "date": date.today().isoformat(),
        "cpu": f"{model} ({os.cpu_count()} cpus; {' '.join(isa) or 'no avx'})",
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest cosine between matching rows of ``a`` and ``b``."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def print_machine() -> None:
    """One line naming the machine and versions, printed above a script's tables."""
    print("\n" + "; ".join(f"{k}: {v}" for k, v in machine().items()))


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    """A Markdown table (paste-ready for benchmarks/README.md)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
