"""The CLIP and SigLIP families through transformers: tiny random models, tokenizers and image
processors are built and saved inside the test (no hub; SigLIP's SentencePiece model is trained
here), and our vectors must equal transformers' own ``get_text_features`` /
``get_image_features`` on its own tokenizer's and processor's output.

The image processor is transformers' PIL one (``CLIPImageProcessorPil`` in transformers 5, plain
``CLIPImageProcessor`` before): the torchvision variant resizes with torch's kernels, not PIL's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers  # the 'local' extra
from PIL import Image, ImageOps
from tiny_clip import (
    DIMENSION,
    SIGLIP_TEXT_LENGTH,
    SIZE,
    image_processor_class,
    save_tiny_clip,
    save_tiny_siglip,
)

from clipbridge import Embedder
from clipbridge.errors import ModelLoadError
from clipbridge.images import center_crop, resize_center_crop, resize_shortest, resize_square
from clipbridge.models import load_model
from clipbridge.models.hf_clip.loader import preprocessor_settings

IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
TEXTS = [
    "the cat",
    "a dog!",
    "The Cat sat on the mat, and the dog ate the hat.",
    "",
    "xyz " * 40 + "very end",  # 120+ tokens: cut to 77 keeping the end token
]


@pytest.fixture(scope="module", params=[False, True], ids=["eos-id", "legacy-eos-2"])
def tiny_clip(request, tmp_path_factory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"), legacy_eos=request.param)


@pytest.fixture(scope="module")
def reference(tiny_clip):
    model = transformers.CLIPModel.from_pretrained(tiny_clip).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_clip)
    processor = image_processor_class().from_pretrained(tiny_clip)
    return model, tokenizer, processor


def _features(out) -> np.ndarray:
    out = out if isinstance(out, torch.Tensor) else out.pooler_output
    return out.detach().float().numpy()


def _pil_images() -> list[Image.Image]:
    photos = []
    for path in sorted(IMAGES.iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            with Image.open(path) as img:
                photos.append(ImageOps.exif_transpose(img).convert("RGB"))
    rng = np.random.default_rng(3)
    # 40x44 and 44x40 resize to 30x33 / 33x30: a 3-pixel margin, where transformers' floored
    # crop offset (1) and a half-even rounded one (2) disagree
    for w, h in ((40, 44), (44, 40), (61, 97)):
        photos.append(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    return photos


def test_text_vectors_equal_transformers(tiny_clip, reference):
    model, tokenizer, _ = reference
    inputs = tokenizer(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
    assert inputs["input_ids"].shape[1] == 77  # the long text really was cut
    with torch.inference_mode():
        expected = _features(model.get_text_features(**inputs))
    ours = Embedder(str(tiny_clip), normalize=False, device="cpu").embed_texts(TEXTS)
    assert ours.shape == (len(TEXTS), DIMENSION)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)
    # one at a time (no padding at all) gives the same vectors as the padded batch
    single = Embedder(str(tiny_clip), normalize=False, device="cpu", batch_size=1)
    np.testing.assert_allclose(single.embed_texts(TEXTS), expected, atol=1e-5, rtol=0)


def test_image_vectors_equal_transformers(tiny_clip, reference):
    model, _, processor = reference
    images = _pil_images()
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        expected = _features(model.get_image_features(pixel_values=pixels))
    ours = Embedder(str(tiny_clip), normalize=False, device="cpu").embed_images(images)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)
    assert np.abs(expected).max() > 0.05  # the comparison is not between near-zero vectors


def test_family_is_chosen_from_config(tiny_clip):
    loaded = load_model(str(tiny_clip), device="cpu")
    assert (loaded.family, loaded.dimension, loaded.max_text_length) == ("clip", DIMENSION, 77)
    assert loaded.pad_token_id == loaded.tokenizer.encode("").ids[-1]  # padded with the end token
    assert loaded.preprocessor["crop_rounding"] == "floor"


def test_crop_rounding_is_what_differs():
    img = Image.new("RGB", (30, 33))
    img.putpixel((0, 1), (255, 0, 0))  # row 1 is the first row of a floored crop only
    assert center_crop(img, 30, "floor").getpixel((0, 0)) == (255, 0, 0)
    assert center_crop(img, 30).getpixel((0, 0)) == (0, 0, 0)  # half-even: offset 2


def test_crop_rounding_holds_on_the_bounded_strip_path():
    # 7x508 resizes to 30x2177: far past the exact-resize budget, so the strip is cropped in
    # source coordinates; 2147 spare rows put the floored offset (1073) one row above half-even.
    rng = np.random.default_rng(5)
    strip = Image.fromarray(rng.integers(0, 256, (508, 7, 3), dtype=np.uint8))
    full = resize_shortest(strip, SIZE)
    assert full.size == (SIZE, 2177)
    bounded = np.asarray(resize_center_crop(strip, SIZE, "floor"), dtype=np.int16)
    floor = np.asarray(center_crop(full, SIZE, "floor"), dtype=np.int16)
    half_even = np.asarray(center_crop(full, SIZE), dtype=np.int16)
    assert np.abs(bounded - floor).max() <= 2  # the strip path's documented accuracy
    assert np.abs(bounded - half_even).max() > 2


def test_unsupported_image_settings_are_refused(tmp_path):
    where = tmp_path / "preprocessor_config.json"
    base = {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}}
    assert preprocessor_settings(base, where)["size"] == 224
    with pytest.raises(ModelLoadError, match="not bicubic"):
        preprocessor_settings({**base, "resample": 2}, where)
    with pytest.raises(ModelLoadError, match="crop_size 200 differs"):
        preprocessor_settings({**base, "crop_size": 200}, where)
    with pytest.raises(ModelLoadError, match="without keeping the aspect ratio"):
        preprocessor_settings({"size": {"height": 224, "width": 224}}, where)


def test_other_model_types_name_the_supported_families(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "blip"}))
    with pytest.raises(
        ModelLoadError, match=r"blip model.*supported: jina-clip-v1, jina-clip-v2, clip, siglip"
    ):
        load_model(str(tmp_path), device="cpu")


def test_hub_id_resolves_from_the_hub_cache(tiny_clip, tmp_path, monkeypatch):
    """``Embedder("openai/clip-vit-base-patch16")`` with the files in the local hub cache."""
    commit = "0" * 40
    repo = tmp_path / "models--openai--clip-vit-base-patch16"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in tiny_clip.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = Embedder("openai/clip-vit-base-patch16", cache_dir=str(tmp_path), device="cpu")
    folder = Embedder(str(tiny_clip), device="cpu")
    np.testing.assert_allclose(emb.embed_texts(TEXTS), folder.embed_texts(TEXTS), atol=1e-6)


def test_native_jina_path_never_imports_transformers(tiny_model_path):
    code = (
        "import sys\n"
        "from clipbridge import Embedder\n"
        f"emb = Embedder({tiny_model_path!r}, device='cpu')\n"
        "emb.embed_texts(['a photo of a cat'])\n"
        f"emb.embed_images([{str(next(IMAGES.glob('*.jpg')))!r}])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'transformers')\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_adapters_take_a_clip_checkpoint(tiny_clip):
    """The model is just a name to every adapter: a CLIP folder works like jina-clip-v1."""
    from langchain_clipbridge import ClipBridgeEmbeddings

    docs = ClipBridgeEmbeddings(model=str(tiny_clip)).embed_documents(["the cat", "a dog!"])
    expected = Embedder(str(tiny_clip)).embed_texts(["the cat", "a dog!"])
    np.testing.assert_allclose(np.asarray(docs), expected, atol=1e-6)
    assert len(docs[0]) == DIMENSION


# -- SigLIP ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory) -> Path:
    return save_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


def test_siglip_vectors_equal_transformers(tiny_siglip):
    model = transformers.SiglipModel.from_pretrained(tiny_siglip).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_siglip)
    processor_class = (
        getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
    )
    processor = processor_class.from_pretrained(tiny_siglip)
    # SigLIP's documented use: pad to the full length, no attention mask
    ids = tokenizer(TEXTS, padding="max_length", truncation=True, return_tensors="pt")["input_ids"]
    assert ids.shape[1] == SIGLIP_TEXT_LENGTH
    images = _pil_images()
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        text_expected = _features(model.get_text_features(input_ids=ids))
        image_expected = _features(model.get_image_features(pixel_values=pixels))
    emb = Embedder(str(tiny_siglip), normalize=False, device="cpu")
    assert emb.backend.loaded.family == "siglip"
    np.testing.assert_allclose(emb.embed_texts(TEXTS), text_expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(emb.embed_images(images), image_expected, atol=1e-5, rtol=0)
    # one text per batch: short texts arrive unpadded and must still be padded to full length
    single = Embedder(str(tiny_siglip), normalize=False, device="cpu", batch_size=1)
    np.testing.assert_allclose(single.embed_texts(TEXTS), text_expected, atol=1e-5, rtol=0)
    assert np.abs(text_expected).max() > 0.05 and np.abs(image_expected).max() > 0.05


def test_square_resize_of_a_strip_stays_close_to_the_direct_one():
    rng = np.random.default_rng(6)
    strip = Image.fromarray(rng.integers(0, 256, (3000, 5, 3), dtype=np.uint8))
    direct = np.asarray(strip.resize((SIZE, SIZE), Image.Resampling.BICUBIC), dtype=np.int16)
    bounded = np.asarray(resize_square(strip, SIZE), dtype=np.int16)
    assert np.abs(bounded - direct).max() <= 2
