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


_WORDS = (
    "bridge",
    "dusk",
    "river",
    "city",
    "light",
    "cat",
    "mat",
    "snow",
    "dog",
    "photo",
    "street",
    "night",
    "tower",
)


def sample_texts(n: int, *, min_words: int, spread: int) -> list[str]:
    """``n`` distinct word sequences of ``min_words`` to ``min_words + spread - 1`` words."""
    return [
        " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(min_words + i % spread))
        for i in range(n)
    ]


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
        **({"gpu": torch.cuda.get_device_name()} if torch.cuda.is_available() else {}),
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


# -- jina-clip-v2 ---------------------------------------------------------------------------------
FIXTURE_V2 = ROOT / "tests" / "fixtures" / "tiny-jina-clip-v2"


def real_v2_config() -> dict[str, Any]:
    """jinaai/jina-clip-v2's config.json: the tiny fixture's, with the real sizes put back.

    The text tower's sizes then come from the shipped jina-embeddings-v3 base config (1024 wide,
    24 layers, 16 heads, FFN 4096, 250 002 tokens); the vision tower is EVA-02-L/14 at 512 px.
    """
    config = json.loads((FIXTURE_V2 / "config.json").read_text())
    kwargs = config["text_config"]["hf_model_config_kwargs"]
    for name in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
        kwargs.pop(name)
    for name in ("intermediate_size", "vocab_size"):
        kwargs.pop(name)
    config["text_config"]["embed_dim"] = 1024
    config["projection_dim"] = 1024
    config["matryoshka_dimensions"] = [32, 64, 128, 256, 512, 768, 1024]
    config["torch_dtype"] = "bfloat16"
    config["vision_config"].update(
        width=1024, layers=24, head_width=64, image_size=512, patch_size=14, embed_dim=1024
    )
    return config


def real_size_v2_checkpoint(seed: int = 0) -> Path:
    """A jina-clip-v2-sized folder in the official layout (LoRA tensors included), bf16 weights.

    Built tensor by tensor (never a float32 copy of the model), once, under ``CACHE``.
    """
    folder = CACHE / f"jina-clip-v2-random-bf16-{seed}"
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from safetensors.torch import save_file
    from torch import nn

    from clipbridge.models.jina_clip_v2 import JinaClipV2Config, JinaClipV2Model
    from clipbridge.models.jina_clip_v2.config import shipped_base_config

    config = real_v2_config()
    with torch.device("meta"):
        model = JinaClipV2Model(JinaClipV2Config.from_dict(config, shipped_base_config()))
    gen = torch.Generator().manual_seed(seed)

    def rand(shape: tuple[int, ...], std: float, mean: float = 0.0) -> torch.Tensor:
        out = torch.empty(shape, dtype=torch.bfloat16)
        flat = out.view(-1)
        step = 1 << 24
        for start in range(0, flat.numel(), step):
            stop = min(flat.numel(), start + step)
            flat[start:stop] = torch.randn(stop - start, generator=gen) * std + mean
        return out

    adapted = {
        name + ".weight": module
        for name, module in model.named_modules()
        if name.startswith("text_model.") and isinstance(module, (nn.Linear, nn.Embedding))
    }
    state: dict[str, torch.Tensor] = {}
    for key, param in model.state_dict().items():
        shape = tuple(param.shape)
        if key in adapted:
            stem = key.removesuffix(".weight") + ".parametrizations.weight."
            state[stem + "original"] = rand(shape, 0.02)
            if isinstance(adapted[key], nn.Embedding):  # A [n, num, r], B [n, r, dim]
                a, b = (1, shape[0], 4), (1, 4, shape[1])
            else:  # A [n, r, in], B [n, out, r]
                a, b = (1, 4, shape[1]), (1, shape[0], 4)
            state[stem + "0.lora_A"] = rand(a, 0.02)
            state[stem + "0.lora_B"] = rand(b, 0.02)
        elif key == "logit_scale":
            state[key] = torch.tensor(2.6592, dtype=torch.bfloat16)
        elif "norm" in key.rsplit(".", 2)[-2] or key.endswith(("emb_ln.weight", "ln.weight")):
            state[key] = rand(shape, 0.02, 1.0 if key.endswith("weight") else 0.0)
        else:
            state[key] = rand(shape, 0.02)
    del model
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    del state
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    pre = json.loads((FIXTURE_V2 / "preprocessor_config.json").read_text())
    pre["size"] = 512
    (tmp / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(FIXTURE_V2 / name, tmp / name)
    tmp.rename(folder)
    return folder


def v2_token_ids(length: int, seed: int = 0, vocab: int = 250002) -> list[int]:
    """``length`` ids: <s> random pieces </s> (never the pad id 1)."""
    import random

    rng = random.Random(seed * 100_003 + length)
    return [0, *(rng.randrange(5, vocab - 1) for _ in range(length - 2)), 2]
