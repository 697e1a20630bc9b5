"""Local backend throughput: ours fp32 / ours bf16 vs transformers' CLIP ViT-B/16 (fp32).

Usage::

    python benchmarks/local_throughput.py          # full run (~5 min on 2 cores)
    BENCH_QUICK=1 python benchmarks/local_throughput.py
    python benchmarks/local_throughput.py --device cuda   # GPU: 16x the items per call

Everything runs in one process with 2 threads, configurations interleaved round by round and
the best round kept, so the ratios hold even on a busy machine. Model-only numbers: pixels and
token ids are made up front (see image_pipeline.py for decoding).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

from clipbridge import Embedder

ROUNDS = 1 if c.QUICK else 2
IMAGE_ROUNDS = 2 if c.QUICK else 5  # images are cheap: more rounds, steadier ratio
N_IMAGES = 4 if c.QUICK else 8
N_SHORT = 8 if c.QUICK else 16  # 64-token texts
N_LONG = 2 if c.QUICK else 4  # 512-token texts
N_MIXED = 16 if c.QUICK else 32
GPU_SCALE = 16  # a GPU idles on the CPU's batch sizes: 16x the items per timed call there


def mixed_lengths(n: int, seed: int = 0) -> list[int]:
    """A corpus like captions + paragraphs: log-normal lengths, median ~40, a few past 500."""
    rng = random.Random(seed)
    return [max(8, min(1024, int(rng.lognormvariate(3.7, 0.9)))) for _ in range(n)]


def peer_model() -> torch.nn.Module:
    from transformers import CLIPConfig, CLIPModel

    vision = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "patch_size": 16,
        "image_size": 224,
    }
    torch.manual_seed(0)
    cfg = CLIPConfig(vision_config=vision, projection_dim=512)
    return CLIPModel(cfg).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda (default: cpu)")
    device = parser.parse_args().device
    gpu = device.startswith("cuda")
    scale = GPU_SCALE if gpu else 1
    n_images, n_short, n_long, n_mixed = (n * scale for n in (N_IMAGES, N_SHORT, N_LONG, N_MIXED))
    c.set_threads(2)
    folder = str(c.real_size_checkpoint())
    # a GPU wants larger forward batches than the CPU default of 32
    sizes = {"batch_size": 128, "max_batch_tokens": 128 * 1024} if gpu else {}
    ours = {
        "ours fp32": Embedder(folder, device=device, dtype="float32", normalize=False, **sizes),
        "ours bf16": Embedder(folder, device=device, dtype="bfloat16", normalize=False, **sizes),
    }
    bf16_model = ours["ours bf16"].backend.loaded
    peer = peer_model().to(device)
    torch.manual_seed(1)
    pixels = torch.randn(n_images, 3, 224, 224).to(device)
    short = [c.token_ids(64, seed=i) for i in range(n_short)]
    long = [c.token_ids(512, seed=i) for i in range(n_long)]
    mixed = [c.token_ids(n, seed=i) for i, n in enumerate(mixed_lengths(n_mixed))]
    peer_ids = torch.tensor([ids[:64] for ids in short]) % peer.config.text_config.vocab_size
    peer_ids = peer_ids.to(device)

    def ours_images(name: str):
        model = ours[name].backend.loaded
        x = pixels.to(model.compute_dtype)
        with torch.inference_mode():
            return model.model.encode_image(x).float().cpu().numpy()

    def sync(out):  # the peer returns device tensors: wait for them before the clock stops
        if gpu:
            torch.cuda.synchronize(device)
        return out

    def peer_images():
        with torch.inference_mode():
            return sync(peer.get_image_features(pixel_values=pixels))

    def peer_texts():
        with torch.inference_mode():
            return sync(peer.get_text_features(input_ids=peer_ids))

    cases = {
        "images/s": (n_images, {n: (lambda n=n: ours_images(n)) for n in ours}, peer_images),
        "texts/s 64 tok": (
            n_short,
            {n: (lambda e=e: e.backend.embed_token_ids(short)) for n, e in ours.items()},
            peer_texts,
        ),
        "texts/s 512 tok": (
            n_long,
            {n: (lambda e=e: e.backend.embed_token_ids(long)) for n, e in ours.items()},
            None,
        ),
        f"texts/s mixed ({sum(map(len, mixed))} tok)": (
            n_mixed,
            {n: (lambda e=e: e.backend.embed_token_ids(mixed)) for n, e in ours.items()},
            None,
        ),
    }
    best: dict[tuple[str, str], float] = {}
    _, image_fns, peer_image_fn = cases["images/s"]
    for fn in (*image_fns.values(), peer_image_fn):  # warm-up (one-time allocations)
        fn()
    for rnd in range(max(ROUNDS, IMAGE_ROUNDS)):
        for case, (count, fns, peer_fn) in cases.items():
            if rnd >= (IMAGE_ROUNDS if case == "images/s" else ROUNDS):
                continue
            runs = dict(fns)
            if peer_fn is not None:
                runs["peer fp32"] = peer_fn
            for name, fn in runs.items():
                secs = c.timed(fn)
                best[(case, name)] = min(best.get((case, name), float("inf")), secs)
                print(f"round {rnd}: {case:28s} {name:10s} {count / secs:7.2f}", flush=True)

    # bf16 vectors vs fp32 vectors
    img32, img16 = ours_images("ours fp32"), ours_images("ours bf16")
    txt32 = ours["ours fp32"].backend.embed_token_ids(mixed)
    txt16 = ours["ours bf16"].backend.embed_token_ids(mixed)

    # Diagnostic: the same bf16 weights with bf16 activations (PyTorch's own CPU kernels).
    native_note = "n/a (this CPU runs bf16 natively)"
    native_cos = None
    if bf16_model.compute_dtype != torch.bfloat16 and not gpu:
        bf16_model.model.set_compute_dtype(torch.bfloat16)
        try:
            x = pixels[:2].bfloat16()
            with torch.inference_mode():
                secs = c.timed(lambda: bf16_model.model.encode_image(x))
                native = bf16_model.model.encode_image(x).float().numpy()
            native_cos = c.min_cosine(native, img32[:2])
            fp32_secs = best[("images/s", "ours fp32")] / n_images * 2
            native_note = f"{2 / secs:.2f} images/s = {fp32_secs / secs:.2f}x ours fp32"
        finally:
            bf16_model.model.set_compute_dtype(bf16_model.compute_dtype)

    info = c.machine()
    print("\n" + "; ".join(f"{k}: {v}" for k, v in info.items()))
    print(f"bf16 model: weights {bf16_model.dtype}, activations {bf16_model.compute_dtype}")
    rows = []
    for case, (count, _, _) in cases.items():
        base = best[(case, "ours fp32")]
        row = [case]
        for name in ("ours fp32", "ours bf16", "peer fp32"):
            secs = best.get((case, name))
            row.append("-" if secs is None else f"{count / secs:.2f} ({base / secs:.2f}x)")
        rows.append(tuple(row))
    where = f"{torch.cuda.get_device_name(device)}, {scale}x items" if gpu else "2 threads"
    c.print_table(
        f"Throughput, {where} (ratio: vs ours fp32)",
        rows,
        ("workload", "ours fp32", "ours bf16", "peer CLIP ViT-B/16 fp32"),
    )
    ratio = best[("images/s", "peer fp32")] / best[("images/s", "ours fp32")]
    print(f"\nimages/s, ours fp32 / peer fp32: {ratio:.2f}x (best of {IMAGE_ROUNDS} rounds)")
    print(
        f"cosine bf16 vs fp32 (min): images {c.min_cosine(img16, img32):.5f}, "
        f"texts {c.min_cosine(txt16, txt32):.5f}"
    )
    print(f"bf16 activations too (native CPU bf16 kernels): {native_note}", end="")
    print("" if native_cos is None else f", cosine {native_cos:.5f}")


if __name__ == "__main__":
    main()
