"""CPU runtimes end to end: clipbridge (default, float32, bfloat16, onnx fp32/int8) vs fastembed.

Usage::

    python benchmarks/cpu_runtimes.py            # ~25 min on 2 busy cores; setup once more
    BENCH_QUICK=1 python benchmarks/cpu_runtimes.py
    python benchmarks/cpu_runtimes.py --no-install-size   # skip the torch-free install check

The real-size random jina-clip-v1 checkpoint (benchmarks/_common.py) is exported once with
``clipbridge export --dtype int8`` to ``$CLIPBRIDGE_BENCH_DIR/jina-clip-v1-random-0-onnx``;
fastembed loads that folder (``specific_model_path=``) from its own venv under
``$CLIPBRIDGE_BENCH_DIR`` (it pins an older huggingface_hub than transformers 5 needs, so it
never shares clipbridge's).

Each contender runs in a fresh subprocess per round (so its peak RSS is its own), rounds alternate
the contenders' order, and the best of the rounds is kept: on a shared machine the ratios hold
while absolute numbers move with the load. Workloads, end to end (strings and JPEG files in,
vectors out): 32 texts of 64 tokens, 8 texts of 512 tokens, 32 JPEGs (1024x768). Cosines are to
clipbridge float32 (the reference's path). The torch-free install (``pip install ".[onnx]"`` in a
fresh venv) is measured in MiB and must run ``clipbridge embed --backend onnx``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 2 if c.QUICK else 3))
THREADS = 2
N_SHORT, N_LONG, N_IMAGES = (8, 2, 8) if c.QUICK else (32, 8, 32)
WORKLOADS = ("texts 32x64", "texts 8x512", "images 32 JPEG")
if c.QUICK:
    WORKLOADS = (f"texts {N_SHORT}x64", f"texts {N_LONG}x512", f"images {N_IMAGES} JPEG")
CONTENDERS = (
    "clipbridge default",
    "clipbridge float32",
    "clipbridge bfloat16",
    "clipbridge float32, OMP passive",
    "onnx float32",
    "onnx int8",
    "fastembed",
)
EXACT = "clipbridge float32"  # cosines are measured against this one
ONNX_DIR = c.CACHE / "jina-clip-v1-random-0-onnx"
FASTEMBED_VENV = c.CACHE / "fastembed-venv"
ONNX_VENV = c.CACHE / "onnx-only-venv"
INSTALL_GOAL_MIB = 250


# -- inputs ---------------------------------------------------------------------------------------
def texts_of(n: int, tokens: int, folder: Path) -> list[str]:
    """``n`` distinct texts that the checkpoint's tokenizer reads as exactly ``tokens`` tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    words = [w for w in c._WORDS if len(tok.encode(w, add_special_tokens=False).ids) == 1]
    out = []
    for i in range(n):
        text = " ".join(words[(i * 7 + k * (1 + i % 3)) % len(words)] for k in range(tokens - 2))
        got = len(tok.encode(text).ids)
        if got != tokens:
            raise RuntimeError(f"text {i} is {got} tokens, not {tokens}")
        out.append(text)
    return out


def jpegs(n: int) -> list[str]:
    """``n`` 1024x768 photo-like JPEGs (smooth gradients plus noise), written once."""
    from PIL import Image

    folder = c.CACHE / "jpegs-1024x768"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        path = folder / f"{i:03d}.jpg"
        if not path.is_file():
            y, x = np.mgrid[0:768, 0:1024].astype(np.float32)
            base = np.stack([x / 4 + i * 7, y / 3 + i * 11, (x + y) / 7 + i * 13], -1) % 256
            noisy = base + rng.normal(0, 12, base.shape)
            Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


# -- the child processes --------------------------------------------------------------------------
CHILD_PRELUDE = r"""
import json, sys, time
import numpy as np
job = json.load(open(sys.argv[1]))
def peak_rss_mb():  # VmHWM: this program's own peak (ru_maxrss keeps the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

CLIPBRIDGE_CHILD = (
    CHILD_PRELUDE
    + r"""
if job["kwargs"].get("backend") != "onnx":  # an onnx user never imports torch (~400 MB RSS)
    import torch
    torch.set_num_threads(job["threads"])
from clipbridge import Embedder
kw = job["kwargs"]
start = time.perf_counter()
emb = Embedder(job["model"], device="cpu", **kw)
emb.embed_texts(job["texts"][0][:2]); emb.embed_images(job["images"][:1])  # warm up
load = time.perf_counter() - start
out = {"load_s": load, "seconds": [], "dtype": None}
loaded = getattr(emb.backend, "loaded", None)
if loaded is not None:
    out["dtype"] = f"{loaded.dtype} computed in {loaded.compute_dtype}".replace("torch.", "")
elif getattr(emb.backend, "precision", None):  # the onnx backend: which graphs it runs
    out["dtype"] = f"{emb.backend.precision} (ONNX Runtime)"
for i, (kind, items) in enumerate(job["work"]):
    start = time.perf_counter()
    vecs = emb.embed_texts(items) if kind == "text" else emb.embed_images(items)
    out["seconds"].append(time.perf_counter() - start)
    np.save(f"{job['out']}/{i}.npy", vecs)
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""
)

FASTEMBED_CHILD = (
    CHILD_PRELUDE
    + r"""
from fastembed import ImageEmbedding, TextEmbedding
kw = {"specific_model_path": job["model"], "threads": job["threads"]}
start = time.perf_counter()
text = TextEmbedding("jinaai/jina-clip-v1", **kw)
image = ImageEmbedding("jinaai/jina-clip-v1", **kw)
list(text.embed(job["texts"][0][:2])); list(image.embed(job["images"][:1]))  # warm up
out = {"load_s": time.perf_counter() - start, "seconds": [], "dtype": "float32 (onnx)"}
for i, (kind, items) in enumerate(job["work"]):
    start = time.perf_counter()
    model = text if kind == "text" else image
    vecs = np.stack(list(model.embed(items, batch_size=len(items))))
    out["seconds"].append(time.perf_counter() - start)
    np.save(f"{job['out']}/{i}.npy", vecs)
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""
)

KWARGS: dict[str, dict[str, Any]] = {
    "clipbridge default": {},
    "clipbridge float32": {"dtype": "float32"},
    "clipbridge bfloat16": {"dtype": "bfloat16"},
    "clipbridge float32, OMP passive": {"dtype": "float32"},
    "onnx float32": {"backend": "onnx", "dtype": "float32"},
    "onnx int8": {"backend": "onnx", "dtype": "int8"},
}


def run_contender(name: str, job: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """One fresh process running every workload once; its timings, RSS and vectors."""
    out = scratch / name.replace(" ", "-").replace(",", "")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    job = {**job, "out": str(out), "kwargs": KWARGS.get(name, {})}
    if name == "fastembed":
        python, code = str(FASTEMBED_VENV / "bin" / "python"), FASTEMBED_CHILD
        job["model"] = str(ONNX_DIR)
    else:
        python, code = sys.executable, CLIPBRIDGE_CHILD
        job["model"] = str(ONNX_DIR if name.startswith("onnx") else job["checkpoint"])
    spec = out / "job.json"
    spec.write_text(json.dumps(job))
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    env.pop("CLIPBRIDGE_CPU_DTYPE", None)  # "default" means what a user gets
    if name.endswith("OMP passive"):  # OpenMP threads sleep instead of spinning when idle
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    done = subprocess.run(
        [python, "-c", code, str(spec)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["vectors"] = [np.load(out / f"{i}.npy") for i in range(len(job["work"]))]
    return result


# -- setup ----------------------------------------------------------------------------------------
def export_onnx(checkpoint: Path) -> None:
    """The export, made once; its int8 graphs made again when written by an older export format
    (format 2 changed only those: 7-bit weights)."""
    from clipbridge.models.onnx_files import EXPORT_FORMAT, quantize_onnx_folder

    stamp = ONNX_DIR / ".clipbridge-export-format"
    if (ONNX_DIR / "onnx" / "vision_model_int8.onnx").is_file():
        if stamp.is_file() and stamp.read_text() == str(EXPORT_FORMAT):
            return
        print(f"quantizing {ONNX_DIR}'s int8 graphs again (export format changed)", flush=True)
        quantize_onnx_folder(ONNX_DIR, ONNX_DIR)
    else:
        from clipbridge.models.onnx_export import export_onnx as export

        print(f"exporting {checkpoint} to {ONNX_DIR} (fp32 + int8, once)", flush=True)
        export(str(checkpoint), ONNX_DIR, precision="int8")
    stamp.write_text(str(EXPORT_FORMAT))


def fastembed_venv() -> None:
    if (FASTEMBED_VENV / "bin" / "python").is_file():
        probe = [str(FASTEMBED_VENV / "bin" / "python"), "-c", "import fastembed"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return
    print(f"creating {FASTEMBED_VENV} with fastembed (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(FASTEMBED_VENV)], check=True)
    pip = [str(FASTEMBED_VENV / "bin" / "pip"), "install", "-q", "fastembed"]
    subprocess.run(pip, check=True)


def fastembed_version() -> str:
    probe = [
        str(FASTEMBED_VENV / "bin" / "python"),
        "-c",
        "import fastembed as f, onnxruntime as o",
    ]
    probe[-1] += "; print(f.__version__, o.__version__)"
    got = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.split()
    return f"fastembed {got[0]}, its onnxruntime {got[1]}" if len(got) == 2 else "fastembed ?"


def dir_mib(path: Path) -> float:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    )


def torch_free_install() -> dict[str, Any]:
    """``pip install ".[onnx]"`` in a fresh venv: its size, and one onnx embedding from it."""
    shutil.rmtree(ONNX_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(ONNX_VENV)], check=True)
    py = ONNX_VENV / "bin" / "python"
    base = dir_mib(ONNX_VENV)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-cache-dir", f"{c.ROOT}[onnx]"], check=True
    )
    site = next((ONNX_VENV / "lib").glob("python*/site-packages"))
    has_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode == 0
    tmp = Path(tempfile.mkdtemp())
    embed = subprocess.run(
        [
            str(ONNX_VENV / "bin" / "clipbridge"),
            "embed",
            "--backend",
            "onnx",
            "--model",
            str(ONNX_DIR),
            "--text",
            "a red bicycle",
            "--image",
            jpegs(1)[0],
            "--out",
            str(tmp / "v.npy"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    shape = np.load(tmp / "v.npy").shape if embed.returncode == 0 else None
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "venv_mib": dir_mib(ONNX_VENV),
        "added_mib": dir_mib(ONNX_VENV) - base,
        "site_packages_mib": dir_mib(site),
        "torch_importable": has_torch,
        "embed_rc": embed.returncode,
        "embed_stderr": embed.stderr.strip()[-500:],
        "embed_shape": shape,
    }


# -- main -----------------------------------------------------------------------------------------
def cpu_flags() -> str:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    want = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")
    return " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in want)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-install-size", action="store_true", help="skip the venv check")
    parser.add_argument("--only", nargs="*", choices=CONTENDERS, help="run only these")
    args = parser.parse_args()
    contenders = [n for n in CONTENDERS if not args.only or n in args.only or n == EXACT]
    checkpoint = c.real_size_checkpoint()
    export_onnx(checkpoint)
    if "fastembed" in contenders:
        fastembed_venv()
    from clipbridge.models.files import cpu_capability

    texts64, texts512 = texts_of(N_SHORT, 64, checkpoint), texts_of(N_LONG, 512, checkpoint)
    images = jpegs(N_IMAGES)
    work = [("text", texts64), ("text", texts512), ("image", images)]
    job = {
        "checkpoint": str(checkpoint),
        "threads": THREADS,
        "work": work,
        "texts": [texts64],
        "images": images,
    }
    scratch = c.CACHE / "cpu-runtimes-out"
    best: dict[str, list[float]] = {n: [float("inf")] * len(work) for n in contenders}
    info: dict[str, dict[str, Any]] = {n: {"peak_rss_mb": 0.0} for n in contenders}
    loads = [os.getloadavg()[0]]
    for rnd in range(ROUNDS):
        order = contenders if rnd % 2 == 0 else contenders[::-1]
        for name in order:
            got = run_contender(name, job, scratch)
            best[name] = [min(a, b) for a, b in zip(best[name], got["seconds"], strict=True)]
            info[name]["peak_rss_mb"] = max(info[name]["peak_rss_mb"], got["peak_rss_mb"])
            info[name]["dtype"] = got.get("dtype")
            info[name]["vectors"] = got["vectors"]
            loads.append(os.getloadavg()[0])
            secs = " ".join(f"{s:.2f}" for s in got["seconds"])
            print(f"round {rnd + 1} {name}: {secs} s, {got['peak_rss_mb']:.0f} MB", flush=True)

    c.print_machine()
    print(f"CPU flags: {cpu_flags()}; torch sees: {cpu_capability()}")
    span = f"{min(loads):.1f}-{max(loads):.1f}"
    print(f"load average (1 min) during the run: {span} on {os.cpu_count()} cpus")
    if "fastembed" in contenders:
        print(fastembed_version())
    ref = info[EXACT]["vectors"]
    peer = "fastembed" if "fastembed" in contenders else EXACT
    rows = []
    for name in contenders:
        cells = [name, info[name].get("dtype") or "-"]
        for i in range(len(WORKLOADS)):
            n = len(work[i][1])
            ratio = best[peer][i] / best[name][i]
            cells.append(f"{n / best[name][i]:.2f}/s ({ratio:.2f}x)")
        text_cos = min(c.min_cosine(info[name]["vectors"][i], ref[i]) for i in (0, 1))
        image_cos = c.min_cosine(info[name]["vectors"][2], ref[2])
        cells += [f"{text_cos:.5f}", f"{image_cos:.5f}", f"{info[name]['peak_rss_mb']:.0f}"]
        rows.append(tuple(cells))
    header = ("contender", "weights / compute", *WORKLOADS, "text cos", "image cos", "peak RSS MB")
    c.print_table(f"Per second, best of {ROUNDS} rounds (ratio: vs {peer})", rows, header)
    if not args.no_install_size:
        got = torch_free_install()
        ok = got["embed_rc"] == 0 and not got["torch_importable"]
        print(
            f"\ntorch-free install (pip install '.[onnx]', fresh venv): "
            f"{got['site_packages_mib']:.0f} MiB site-packages, {got['venv_mib']:.0f} MiB venv "
            f"(goal <= {INSTALL_GOAL_MIB} MiB); torch importable: {got['torch_importable']}; "
            f"clipbridge embed --backend onnx: {'ok' if ok else 'FAILED'} {got['embed_shape']}"
        )
        if got["embed_rc"] != 0:
            print(got["embed_stderr"])


if __name__ == "__main__":
    main()
