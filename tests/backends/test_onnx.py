"""The ONNX backend and ``clipbridge export`` on the tiny jina-clip-v1 and v2 checkpoints.

Two exports serve every test: v1 through the ``clipbridge export --dtype int8`` command, v2
through ``Embedder(checkpoint, backend="onnx")`` exporting into its cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hub_cache import save_snapshot

from clipbridge import Embedder, EmbedderConfig
from clipbridge.cli import main
from clipbridge.errors import ModelLoadError
from clipbridge.models import load_model
from clipbridge.models.onnx_files import cache_root, onnx_file_names

FIXTURES = Path(__file__).parents[1] / "fixtures"
V1 = str(FIXTURES / "tiny-jina-clip-v1")
V2 = str(FIXTURES / "tiny-jina-clip-v2")
ATOL, RTOL = 1e-5, 1e-4
TEXTS = ["a cat", "", "a photo of a bridge at dusk over a river " * 6, "x y z w v u", "Brücke 桥"]
IMAGES = sorted((FIXTURES / "images").iterdir())
IMAGES_V2 = sorted((FIXTURES / "images-v2").iterdir())

# Makes ``import torch`` fail in a subprocess, as on a machine without it.
NO_TORCH = textwrap.dedent(
    """
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    """
)


def _run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "no_torch.py"
    script.write_text(NO_TORCH + textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def v1_onnx(tmp_path_factory) -> Path:
    """The tiny v1 exported by ``clipbridge export --dtype int8`` (float32 and int8 graphs)."""
    out = tmp_path_factory.mktemp("export") / "tiny-v1-onnx"
    assert main(["export", V1, "--out", str(out), "--dtype", "int8"]) == 0
    return out


@pytest.fixture(scope="module")
def v2_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def v2_onnx(v2_cache) -> Path:
    """The tiny v2 as ``Embedder(checkpoint, backend="onnx")`` exports it into the cache."""
    emb = Embedder(V2, backend="onnx", cache_dir=str(v2_cache))
    return emb.backend.folder


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def _raw(model: str, **fields) -> Embedder:
    return Embedder(model, normalize=False, max_length=512, **fields)


# -- the folder ----------------------------------------------------------------------------------
def test_export_writes_the_hub_layout(v1_onnx, capsys):
    names = {str(p.relative_to(v1_onnx)) for p in v1_onnx.rglob("*") if p.is_file()}
    assert names == {
        "config.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        *onnx_file_names("float32"),
        *onnx_file_names("int8"),
    }
    text = onnx.load(str(v1_onnx / "onnx/text_model.onnx")).graph
    # fastembed passes attention_mask only to graphs that declare it: input_ids alone here
    assert [i.name for i in text.input] == ["input_ids"]
    assert text.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_param for d in text.input[0].type.tensor_type.shape.dim] == ["batch", "sequence"]
    assert [o.name for o in text.output] == ["text_embeds"]
    vision = onnx.load(str(v1_onnx / "onnx/vision_model.onnx")).graph
    assert [i.name for i in vision.input] == ["pixel_values"]
    dims = vision.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 32, 32]
    assert [o.name for o in vision.output] == ["image_embeds"]
    for fp32, int8 in zip(onnx_file_names("float32"), onnx_file_names("int8"), strict=True):
        assert (v1_onnx / int8).stat().st_size < 0.5 * (v1_onnx / fp32).stat().st_size


def test_v2_export_lands_in_the_cache(v2_onnx, v2_cache):
    assert v2_onnx.parent == cache_root(str(v2_cache))
    assert v2_onnx.name.startswith("jina-clip-v2-")
    assert all((v2_onnx / name).is_file() for name in onnx_file_names("float32"))


# -- float32 parity ------------------------------------------------------------------------------
def test_v1_float32_equals_reference_and_local(v1_onnx, expected, fixture_texts, fixture_images):
    onnx_emb = _raw(str(v1_onnx), backend="onnx")
    assert onnx_emb.backend.tokenize(fixture_texts) == _raw(V1).backend.tokenize(fixture_texts)
    texts = onnx_emb.embed_texts(fixture_texts)
    np.testing.assert_allclose(texts, expected["text_embeds_raw"], atol=ATOL, rtol=RTOL)
    images = onnx_emb.embed_images(fixture_images)
    np.testing.assert_allclose(images, expected["image_embeds_raw"], atol=ATOL, rtol=RTOL)
    local = _raw(V1, device="cpu", dtype="float32")
    np.testing.assert_allclose(texts, local.embed_texts(fixture_texts), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(images, local.embed_images(fixture_images), atol=ATOL, rtol=RTOL)
    normed = Embedder(str(v1_onnx), backend="onnx", max_length=512)
    np.testing.assert_allclose(
        normed.embed_texts(fixture_texts), expected["text_embeds"], atol=ATOL, rtol=RTOL
    )


def test_v2_float32_equals_reference_and_local(v2_onnx):
    with np.load(FIXTURES / "tiny-jina-clip-v2-expected.npz") as data:
        ref = {key: data[key] for key in data.files}
    texts = [str(t) for t in ref["texts"]]
    images = [FIXTURES / "images-v2" / str(name) for name in ref["image_files"]]
    emb = _raw(str(v2_onnx), backend="onnx")
    assert emb.matryoshka_dimensions == (16, 32, 64)
    np.testing.assert_allclose(emb.embed_texts(texts), ref["text_embeds_raw"], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(
        emb.embed_texts(texts, task="retrieval.query"),
        Embedder(V2, normalize=False, max_length=512, device="cpu", dtype="float32").embed_texts(
            texts, task="retrieval.query"
        ),
        atol=ATOL,
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        emb.embed_images(images), ref["image_embeds_raw"], atol=ATOL, rtol=RTOL
    )
    cut = Embedder(str(v2_onnx), backend="onnx", max_length=512, dimensions=16)
    np.testing.assert_allclose(cut.embed_texts(texts), ref["text_embeds_trunc16"], atol=ATOL)
    np.testing.assert_allclose(cut.embed_images(images), ref["image_embeds_trunc16"], atol=ATOL)


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_graphs_keep_dynamic_batch_and_length(which, v1_onnx, v2_onnx):
    """Shapes far from the export's example (2 x 16) give the PyTorch model's vectors."""
    folder, source = (v1_onnx, V1) if which == "v1" else (v2_onnx, V2)
    model = load_model(source, device="cpu", dtype="float32").model
    pad = 0 if which == "v1" else 1
    text = ort.InferenceSession(str(folder / "onnx/text_model.onnx"))
    rng = np.random.default_rng(0)
    import torch

    for batch, length in [(1, 2), (3, 9), (7, 61), (2, 130)]:
        ids = rng.integers(5, 300, size=(batch, length))
        ids[-1, max(1, length // 3) :] = pad  # the last row padded
        got = text.run(None, {"input_ids": ids})[0]
        want = model.encode_text(torch.from_numpy(ids)).detach().numpy()
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
    vision = ort.InferenceSession(str(folder / "onnx/vision_model.onnx"))
    size = vision.get_inputs()[0].shape[-1]
    for batch in (1, 5):
        pixels = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
        want = model.encode_image(torch.from_numpy(pixels)).detach().numpy()
        np.testing.assert_allclose(vision.run(None, {"pixel_values": pixels})[0], want, atol=ATOL)


def test_padding_does_not_change_vectors(v1_onnx):
    """Each text alone (no padding) and in one length-mixed padded batch: the same vectors."""
    alone = Embedder(str(v1_onnx), backend="onnx", batch_size=1)
    batched = Embedder(str(v1_onnx), backend="onnx", batch_size=len(TEXTS))
    lengths = {len(ids) for ids in batched.backend.tokenize(TEXTS)}
    assert len(lengths) == len(TEXTS)  # every row of the batch padded to a different extent
    np.testing.assert_allclose(alone.embed_texts(TEXTS), batched.embed_texts(TEXTS), atol=1e-6)


def test_int8_vectors_depend_on_the_batch_only_slightly(v1_onnx):
    """Dynamic int8 picks one activation scale per tensor, i.e. per batch: a text's vector
    shifts a little with its batch-mates (docs/backends.md says so), never beyond 0.999."""
    alone = Embedder(str(v1_onnx), backend="onnx", dtype="int8", batch_size=1)
    batched = Embedder(str(v1_onnx), backend="onnx", dtype="int8", batch_size=len(TEXTS))
    cosines = _cosines(alone.embed_texts(TEXTS), batched.embed_texts(TEXTS))
    assert cosines.min() >= 0.999, cosines


# -- int8 ----------------------------------------------------------------------------------------
def test_int8_is_close_to_float32(v1_onnx, v2_onnx, fixture_texts):
    for folder, images in ((v1_onnx, IMAGES), (v2_onnx, IMAGES_V2)):
        fp32 = Embedder(str(folder), backend="onnx")
        int8 = Embedder(str(folder), backend="onnx", dtype="int8")
        assert int8.backend.text_file.name == "text_model_int8.onnx"
        texts = _cosines(int8.embed_texts(fixture_texts), fp32.embed_texts(fixture_texts))
        pictures = _cosines(int8.embed_images(images), fp32.embed_images(images))
        # measured on an AVX2 CPU: >= 0.99992 texts, >= 0.9966 images (v1 and v2)
        assert texts.min() >= 0.9995 and pictures.min() >= 0.995, (texts, pictures)
        assert pictures.min() < 1 - 1e-6  # quantized: not the float32 graphs again


def test_int8_weights_use_seven_bits(v1_onnx):
    """Every quantized weight lies in -64..64, so no two products can saturate the int16 sum of
    AVX2's ``vpmaddubsw`` (255*64*2 < 32767)."""
    for name in onnx_file_names("int8"):
        graph = onnx.load(str(v1_onnx / name)).graph
        weights = [
            onnx.numpy_helper.to_array(t)
            for t in graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and np.prod(t.dims) > 1
        ]
        assert len(weights) >= 8, name  # the projections of both layers, at least
        assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == 64, name


def test_int8_matmul_of_large_positive_values_is_exact_enough(tmp_path):
    """Activations near their maximum times weights near theirs: with 8-bit weights, CPUs
    without VNNI (AVX2) saturated pairs of products and were off by 27%; 7-bit weights are
    within the quantization's own error."""
    from onnx import TensorProto, helper, numpy_helper

    from clipbridge.models.onnx_files import quantize_onnx_folder

    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 1.0, (64, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "onnx").mkdir()
    for name in onnx_file_names("float32"):
        onnx.save(model, str(tmp_path / name))
    quantize_onnx_folder(tmp_path, tmp_path)
    x = rng.uniform(0.8, 1.0, (4, 64)).astype(np.float32)
    x[:, 0] = 0  # the activations' zero point at 0: the rest quantize to 204..255
    for name in onnx_file_names("int8"):
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"x": x})
        np.testing.assert_allclose(got, x @ weights, rtol=0.01)


def test_int8_from_a_float32_folder_is_quantized_once_into_the_cache(v2_onnx, v2_cache):
    """v2's cached export holds float32 graphs; int8 adds the quantized ones beside them."""
    emb = Embedder(V2, backend="onnx", dtype="int8", cache_dir=str(v2_cache))
    assert emb.backend.folder == v2_onnx
    assert all((v2_onnx / name).is_file() for name in onnx_file_names("int8"))


def test_cached_export_is_reused(v2_onnx, v2_cache, monkeypatch):
    import clipbridge.models.onnx_export as export

    def fail(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(export, "export_onnx", fail)
    assert Embedder(V2, backend="onnx", cache_dir=str(v2_cache)).backend.folder == v2_onnx


def test_hub_repo_with_onnx_files_is_used_as_is(v1_onnx, tmp_path, monkeypatch):
    """A hub repo shipping this layout (here: the v1 export in a hub cache) is not exported."""
    import clipbridge.models.onnx_export as export

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--acme--tiny-clip-onnx"
    snapshot = repo / "snapshots" / commit
    (snapshot / "onnx").mkdir(parents=True)
    for path in v1_onnx.rglob("*"):
        if path.is_file() and "int8" not in path.name:
            (snapshot / path.relative_to(v1_onnx)).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(export, "export_onnx", lambda *a, **k: pytest.fail("exported"))
    emb = Embedder("acme/tiny-clip-onnx", backend="onnx", cache_dir=str(tmp_path / "hub"))
    assert emb.backend.folder == snapshot
    want = Embedder(str(v1_onnx), backend="onnx").embed_texts(TEXTS)
    np.testing.assert_allclose(emb.embed_texts(TEXTS), want, atol=1e-7)


def test_cached_hub_onnx_repo_loads_without_probing_the_hub(v1_onnx, tmp_path, monkeypatch):
    """Cache first: a repo whose ONNX files are all cached never costs the hub's TCP probe."""
    snapshot = save_snapshot(tmp_path / "hub", "acme/tiny-clip-onnx", {})
    for path in v1_onnx.rglob("*"):
        if path.is_file() and "int8" not in path.name:
            target = snapshot / path.relative_to(v1_onnx)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    probes: list[tuple] = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name, module in list(sys.modules.items()):
        if name.startswith("clipbridge") and hasattr(module, "hub_reachable"):
            monkeypatch.setattr(module, "hub_reachable", lambda *a: probes.append(a) or False)
    emb = Embedder("acme/tiny-clip-onnx", backend="onnx", cache_dir=str(tmp_path / "hub"))
    assert emb.backend.folder == snapshot
    assert probes == []


# -- without torch -------------------------------------------------------------------------------
def test_onnx_backend_runs_without_torch(v1_onnx, tmp_path):
    """The export loads and runs where torch cannot be imported, with the local backend's
    vectors (float32) and the in-process int8 ones."""
    out = tmp_path / "vectors.npz"
    result = _run_without_torch(
        f"""
        import numpy as np
        from clipbridge import Embedder

        images = {[str(p) for p in IMAGES]!r}
        vectors = {{}}
        for dtype in ("float32", "int8"):
            emb = Embedder({str(v1_onnx)!r}, backend="onnx", dtype=dtype)
            vectors[dtype + "_texts"] = emb.embed_texts({TEXTS!r})
            vectors[dtype + "_images"] = emb.embed_images(images)
        np.savez({str(out)!r}, **vectors)
        assert "torch" not in sys.modules, "torch was imported"
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    got = np.load(out)
    local = Embedder(V1, device="cpu", dtype="float32")
    np.testing.assert_allclose(got["float32_texts"], local.embed_texts(TEXTS), atol=ATOL)
    np.testing.assert_allclose(got["float32_images"], local.embed_images(IMAGES), atol=ATOL)
    int8 = Embedder(str(v1_onnx), backend="onnx", dtype="int8")
    np.testing.assert_allclose(got["int8_texts"], int8.embed_texts(TEXTS), atol=1e-6)
    np.testing.assert_allclose(got["int8_images"], int8.embed_images(IMAGES), atol=1e-6)


def test_pytorch_checkpoint_without_torch_says_what_to_do(tmp_path):
    result = _run_without_torch(
        f"""
        from clipbridge import Embedder
        from clipbridge.errors import ModelLoadError

        try:
            Embedder({V1!r}, backend="onnx", cache_dir={str(tmp_path / "cache")!r})
        except ModelLoadError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert "holds PyTorch weights and no ONNX files" in message
    assert "pip install 'clipbridge[local]'" in message and "clipbridge export" in message


# -- config and command line ---------------------------------------------------------------------
def test_config_accepts_onnx_and_int8():
    cfg = EmbedderConfig(model="m", backend="onnx", dtype="int8")
    assert EmbedderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"dtype 'int8'.*needs backend='onnx'"):
        EmbedderConfig(model="m", dtype="int8")
    with pytest.raises(ValueError, match=r"dtype must be one of .* with backend='onnx'"):
        EmbedderConfig(model="m", backend="onnx", dtype="bfloat16")
    with pytest.raises(ValueError, match="backend must be one of"):
        EmbedderConfig(model="m", backend="tensorrt")


def test_folder_without_the_wanted_graphs(v1_onnx, tmp_path):
    folder = tmp_path / "only-int8"
    (folder / "onnx").mkdir(parents=True)
    for path in v1_onnx.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    for name in onnx_file_names("int8"):
        (folder / name).write_bytes((v1_onnx / name).read_bytes())
    assert Embedder(str(folder), backend="onnx", dtype="int8").embed_texts(["a"]).shape == (1, 96)
    with pytest.raises(ModelLoadError, match="has neither ONNX files"):
        Embedder(str(folder), backend="onnx")


def _exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["embed", "--text", "a", "--dtype", "int8"], "--dtype int8"),
        (["embed", "--text", "a", "--backend", "onnx", "--dtype", "float16"], "--backend onnx"),
        (["export", "no-such-folder", "--out", "{tmp}/o"], "neither an existing folder"),
        (["export", V1, "--out", "{tmp}"], "is not empty"),
        (["export", V1, "--out", "{tmp}/file.txt"], "is a file"),
        (["export", V1, "--out", "{tmp}/o", "--dtype", "bfloat16"], "invalid choice"),
    ],
)
def test_command_line_mistakes(argv, says, tmp_path, capsys, monkeypatch):
    import clipbridge.models as models

    (tmp_path / "file.txt").write_text("x")
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
    assert _exit([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and says in err, err


def test_embed_command_with_the_onnx_backend(v1_onnx, capsys, tmp_path):
    out = tmp_path / "v.jsonl"
    argv = ["embed", "--backend", "onnx", "--dtype", "int8", "--model", str(v1_onnx)]
    assert main([*argv, "--text", "a cat", "--out", str(out)]) == 0
    row = json.loads(out.read_text())
    want = Embedder(str(v1_onnx), backend="onnx", dtype="int8").embed_texts(["a cat"])[0]
    np.testing.assert_allclose(row["embedding"], want, atol=1e-6)


def test_adapters_and_serve_reach_the_onnx_backend_through_the_config(v1_onnx):
    from clipbridge.cli import build_parser
    from clipbridge.serve.command import settings_from_args
    from langchain_clipbridge import ClipBridgeEmbeddings

    lc = ClipBridgeEmbeddings(model=str(v1_onnx), backend="onnx", dtype="int8")
    want = Embedder(str(v1_onnx), backend="onnx", dtype="int8").embed_texts(["a cat"])[0]
    np.testing.assert_allclose(lc.embed_query("a cat"), want, atol=1e-6)
    argv = ["serve", "--model", str(v1_onnx), "--backend", "onnx", "--dtype", "int8"]
    config = settings_from_args(build_parser().parse_args(argv)).config
    assert (config.backend, config.dtype) == ("onnx", "int8")


def test_a_graph_that_lost_its_dynamic_length_is_refused(tmp_path):
    """torch.export freezes shapes that Python arithmetic touched; the check after each export
    says so instead of writing a graph that only takes the example's length."""
    from onnx import TensorProto, helper

    from clipbridge.models.onnx_export import _check_dynamic

    for name, dims in (("fixed.onnx", ["batch", 16]), ("dynamic.onnx", ["batch", "sequence"])):
        graph = helper.make_graph(
            [helper.make_node("Identity", ["input_ids"], ["text_embeds"])],
            "g",
            [helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims)],
            [helper.make_tensor_value_info("text_embeds", TensorProto.INT64, dims)],
        )
        onnx.save(helper.make_model(graph), str(tmp_path / name))
    _check_dynamic(tmp_path / "dynamic.onnx", "input_ids", {0: "batch", 1: "sequence"})
    with pytest.raises(RuntimeError, match=r"fixed size on axis \[1\] of input_ids"):
        _check_dynamic(tmp_path / "fixed.onnx", "input_ids", {0: "batch", 1: "sequence"})


def test_a_family_without_an_onnx_path_is_refused_before_loading(tmp_path, monkeypatch):
    from tiny_clip import save_tiny_clip

    import clipbridge.models.onnx_export as export

    save_tiny_clip(tmp_path / "clip")
    monkeypatch.setattr(export, "export_onnx", lambda *a, **k: pytest.fail("exported"))
    with pytest.raises(ModelLoadError, match="holds a clip model; the onnx backend runs"):
        Embedder(str(tmp_path / "clip"), backend="onnx", cache_dir=str(tmp_path / "cache"))


def test_large_batches_run_in_bounded_slices(v1_onnx, monkeypatch):
    """A batch runs as several ONNX Runtime calls of <= TOKENS_PER_RUN tokens / IMAGES_PER_RUN
    images (bounding the activations held at once), with the same vectors as one call."""
    from clipbridge.backends import onnx as onnx_backend

    whole = Embedder(str(v1_onnx), backend="onnx", batch_size=len(TEXTS))
    want_texts, want_images = whole.embed_texts(TEXTS), whole.embed_images(IMAGES)
    seen: list[tuple[int, ...]] = []
    run = ort.InferenceSession.run

    def spy(self, names, inputs, *args, **kwargs):
        seen.append(next(iter(inputs.values())).shape)
        return run(self, names, inputs, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", spy)
    monkeypatch.setattr(onnx_backend, "TOKENS_PER_RUN", 1)  # one row per call
    monkeypatch.setattr(onnx_backend, "IMAGES_PER_RUN", 2)
    np.testing.assert_allclose(whole.embed_texts(TEXTS), want_texts, atol=1e-6)
    assert [s[0] for s in seen] == [1] * len(TEXTS)
    seen.clear()
    np.testing.assert_allclose(whole.embed_images(IMAGES), want_images, atol=1e-6)
    assert [s[0] for s in seen] == [2] * (len(IMAGES) // 2) + [1] * (len(IMAGES) % 2)
