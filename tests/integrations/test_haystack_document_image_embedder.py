"""ClipBridgeDocumentImageEmbedder: paths, root_path guard, PDF pages, run/run_async, checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.utils import Secret
from PIL import Image

from clipbridge import DEFAULT_MODEL, Embedder, EmbedderConfig, InvalidInputError
from clipbridge.pdf import render_pdf_page
from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentImageEmbedder,
)

IMAGES = Path(__file__).parents[1] / "fixtures" / "images"
TYPE = (
    "haystack_integrations.components.embedders.clipbridge.document_image_embedder."
    "ClipBridgeDocumentImageEmbedder"
)
CUSTOM = {
    "model": "jina-clip-v1",
    "api_key": Secret.from_env_var("MY_JINA_KEY", strict=False),
    "file_path_meta_field": "image_path",
    "root_path": "/data/images",
    "progress_bar": False,
    "backend": "api",
    "send_image_urls": True,
    "max_image_pixels": 1_000_000,
    "image_size": 64,
    "fast_image_decode": True,
}


@pytest.fixture
def embedder(tiny_model_path) -> ClipBridgeDocumentImageEmbedder:
    return ClipBridgeDocumentImageEmbedder(
        model=tiny_model_path, root_path=str(IMAGES), progress_bar=False
    )


@pytest.fixture(scope="module")
def two_page_pdf(tmp_path_factory) -> Path:
    """A 2-page PDF made from two fixture images (page 1 square, page 2 wide)."""
    path = tmp_path_factory.mktemp("pdf") / "pages.pdf"
    with (
        Image.open(IMAGES / "rgb_square_64.png") as first,
        Image.open(IMAGES / "rgb_wide_96x48.jpg") as second,
    ):
        first.convert("RGB").save(path, save_all=True, append_images=[second.convert("RGB")])
    return path


def test_init_default():
    embedder = ClipBridgeDocumentImageEmbedder()
    assert embedder.model == DEFAULT_MODEL
    assert embedder.api_key == Secret.from_env_var("JINA_API_KEY", strict=False)
    assert embedder.file_path_meta_field == "file_path"
    assert embedder.root_path is None
    assert embedder.progress_bar is True
    assert embedder._config() == EmbedderConfig(show_progress=True)
    assert embedder._embedder is None


def test_init_with_params_to_dict_from_dict(monkeypatch):
    monkeypatch.setenv("MY_JINA_KEY", "jina_image_secret")
    embedder = ClipBridgeDocumentImageEmbedder(**CUSTOM)
    for name, value in CUSTOM.items():
        assert getattr(embedder, name) == value, name
    data = embedder.to_dict()
    assert data["type"] == TYPE
    assert data["init_parameters"]["file_path_meta_field"] == "image_path"
    assert data["init_parameters"]["root_path"] == "/data/images"
    assert "jina_image_secret" not in json.dumps(data)
    restored = ClipBridgeDocumentImageEmbedder.from_dict(data)
    for name, value in CUSTOM.items():
        assert getattr(restored, name) == value, name
    assert restored.to_dict() == data


def test_run_equals_embedder(embedder, fixture_images, expected, tiny_model_path):
    docs = [
        Document(meta={"file_path": path.name, "k": i}) for i, path in enumerate(fixture_images)
    ]
    before = copy.deepcopy(docs)
    out = embedder.run(documents=docs)["documents"]
    assert docs == before
    got = np.asarray([d.embedding for d in out], dtype=np.float32)
    reference = Embedder(tiny_model_path).embed_images([str(p) for p in fixture_images])
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_allclose(got, expected["image_embeds"], atol=1e-4)  # golden vectors
    for doc, original in zip(out, docs, strict=True):
        assert doc.id == original.id
        assert doc.meta == {
            **original.meta,
            "embedding_source": {"type": "image", "file_path_meta_field": "file_path"},
        }
        assert "embedding_source" not in original.meta


def test_absolute_paths_without_root_path(tiny_model_path, fixture_images):
    embedder = ClipBridgeDocumentImageEmbedder(
        model=tiny_model_path, file_path_meta_field="image_path", progress_bar=False
    )
    docs = [Document(meta={"image_path": str(fixture_images[1])})]
    out = embedder.run(documents=docs)["documents"]
    reference = Embedder(tiny_model_path).embed_images([fixture_images[1]])[0]
    np.testing.assert_array_equal(np.asarray(out[0].embedding, dtype=np.float32), reference)
    assert out[0].meta["embedding_source"]["file_path_meta_field"] == "image_path"


async def test_run_async_equals_run(embedder, fixture_images):
    docs = [Document(meta={"file_path": p.name}) for p in fixture_images]
    assert await embedder.run_async(documents=docs) == embedder.run(documents=docs)


async def test_empty_list(embedder):
    empty = {"documents": [], "meta": {"model": embedder.model}}
    assert embedder.run(documents=[]) == empty
    assert await embedder.run_async(documents=[]) == empty


@pytest.mark.parametrize("bad", ["rgb_square_64.png", Document(meta={}), [Path("a.png")], None])
async def test_wrong_input_type(embedder, bad):
    with pytest.raises(TypeError, match="ClipBridgeDocumentImageEmbedder expects a list"):
        embedder.run(documents=bad)
    with pytest.raises(TypeError, match="ClipBridgeDocumentImageEmbedder expects a list"):
        await embedder.run_async(documents=bad)


@pytest.mark.parametrize(
    "escaping",
    ["../images/../../conftest.py", "../conftest.py", "/etc/passwd", "sub/../../x.png"],
)
def test_path_escaping_root_path_is_refused(embedder, escaping):
    docs = [
        Document(meta={"file_path": "rgb_square_64.png"}),
        Document(meta={"file_path": escaping}),
    ]
    with pytest.raises(InvalidInputError, match="escapes root_path") as info:
        embedder.run(documents=docs)
    assert info.value.index == 1
    assert docs[1].id in str(info.value)
    assert isinstance(info.value, ValueError)


def test_symlink_escaping_root_path_is_refused(tmp_path, tiny_model_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.png").symlink_to(IMAGES / "rgb_square_64.png")  # points outside root
    embedder = ClipBridgeDocumentImageEmbedder(model=tiny_model_path, root_path=str(root))
    with pytest.raises(InvalidInputError, match="escapes root_path"):
        embedder.run(documents=[Document(meta={"file_path": "ok.png"})])


def test_missing_meta_and_missing_file_name_the_document(embedder):
    doc = Document(meta={"other": "x"})
    with pytest.raises(InvalidInputError, match=rf"document '{doc.id}' has no image path"):
        embedder.run(documents=[doc])
    missing = Document(meta={"file_path": "absent.png"})
    with pytest.raises(InvalidInputError, match=rf"input 0: document '{missing.id}':.*not found"):
        embedder.run(documents=[missing])


async def test_pdf_pages_give_different_vectors(two_page_pdf, tiny_model_path):
    embedder = ClipBridgeDocumentImageEmbedder(
        model=tiny_model_path, root_path=str(two_page_pdf.parent), progress_bar=False
    )
    docs = [
        Document(meta={"file_path": "pages.pdf", "page_number": 1}),
        Document(meta={"file_path": "pages.pdf", "page_number": 2}),
        Document(meta={"file_path": "pages.pdf", "page_number": 2, "mime_type": "application/pdf"}),
    ]
    out = embedder.run(documents=docs)["documents"]
    vectors = np.asarray([d.embedding for d in out], dtype=np.float32)
    assert float(vectors[0] @ vectors[1]) < 0.99  # two different pages
    np.testing.assert_array_equal(vectors[1], vectors[2])
    pages = [render_pdf_page(two_page_pdf, n, 0) for n in (1, 2)]
    np.testing.assert_array_equal(vectors[:2], Embedder(tiny_model_path).embed_images(pages))
    assert (await embedder.run_async(documents=docs))["documents"] == out


def test_pdf_detected_by_mime_type(two_page_pdf, tmp_path, tiny_model_path):
    renamed = tmp_path / "document.bin"
    renamed.write_bytes(two_page_pdf.read_bytes())
    embedder = ClipBridgeDocumentImageEmbedder(model=tiny_model_path, progress_bar=False)
    doc = Document(meta={"file_path": str(renamed), "mime_type": "application/pdf"})
    with pytest.raises(InvalidInputError, match="no meta\\['page_number'\\]"):
        embedder.run(documents=[doc])
    doc = Document(meta={**doc.meta, "page_number": 2})
    vector = embedder.run(documents=[doc])["documents"][0].embedding
    page = render_pdf_page(two_page_pdf, 2, 0)  # page 2 of the PDF, whatever the file is called
    np.testing.assert_array_equal(
        np.float32(vector), Embedder(tiny_model_path).embed_images([page])[0]
    )


def test_pdf_without_page_number_or_bad_page(two_page_pdf, tiny_model_path):
    embedder = ClipBridgeDocumentImageEmbedder(
        model=tiny_model_path, root_path=str(two_page_pdf.parent), progress_bar=False
    )
    no_page = Document(meta={"file_path": "pages.pdf"})
    with pytest.raises(InvalidInputError, match=rf"document '{no_page.id}' points at the PDF"):
        embedder.run(documents=[no_page])
    too_far = Document(meta={"file_path": "pages.pdf", "page_number": 3})
    with pytest.raises(
        InvalidInputError, match=rf"document '{too_far.id}': page 3 is out of range"
    ):
        embedder.run(documents=[too_far])


def test_pipeline_round_trip(tiny_model_path):
    pipeline = Pipeline()
    pipeline.add_component(
        "embedder", ClipBridgeDocumentImageEmbedder(model=tiny_model_path, root_path="imgs")
    )
    restored = Pipeline.loads(pipeline.dumps())
    assert restored == pipeline
    assert restored.get_component("embedder").root_path == "imgs"
