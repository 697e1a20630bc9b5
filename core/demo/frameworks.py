"""The framework half of ``clipbridge demo``: one function per framework, same job, same output.

Each function builds its framework's own vector index through the clipbridge adapter (LlamaIndex
``MultiModalVectorStoreIndex``, LangChain ``InMemoryVectorStore``, Haystack
``InMemoryDocumentStore``), runs the text->image, image->image and text->text queries of a
:class:`Job` and returns the indexing time, the ranked hits, and how many captions find their own
photo first through the same index (recall@1). Frameworks are imported lazily.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClipBridgeError

__all__ = [
    "ADAPTERS",
    "FRAMEWORKS",
    "DemoItem",
    "DemoRun",
    "Hit",
    "Job",
    "Outcome",
    "QueryResult",
    "check_framework",
]

# framework -> (the adapter module, the pip extra that installs the framework)
ADAPTERS = {
    "llama-index": ("llama_index.embeddings.clipbridge", "llama-index"),
    "langchain": ("langchain_clipbridge", "langchain"),
    "haystack": ("haystack_integrations.components.embedders.clipbridge", "haystack"),
}


@dataclass(frozen=True)
class DemoItem:
    """One photo of the corpus and its caption."""

    path: Path
    caption: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Hit:
    """One ranked result: the matched item (image or caption) and its similarity score."""

    file: str
    score: float


@dataclass
class QueryResult:
    """A query (``kind`` is ``text->image``, ``image->image`` or ``text->text``) and its hits."""

    kind: str
    query: str
    hits: list[Hit]
    seconds: float


@dataclass
class DemoRun:
    """Everything the table and the HTML page show."""

    framework: str
    model: str
    backend: str
    device: str
    dimension: int
    items: list[DemoItem]
    load_seconds: float
    index_seconds: float = 0.0
    results: list[QueryResult] = field(default_factory=list)
    recall_hits: int = 0  # captions whose own photo the framework's index ranks first


@dataclass(frozen=True)
class Outcome:
    """What a framework function returns: indexing time, the queries' hits, recall@1 hits."""

    index_seconds: float
    results: list[QueryResult]
    recall_hits: int


@dataclass(frozen=True)
class Job:
    """What a framework function needs: adapter arguments, the corpus and the queries."""

    model: str
    options: dict[str, Any]  # EmbedderConfig fields other than model (backend, device, ...)
    items: list[DemoItem]
    text_to_image: list[str]
    image_queries: list[DemoItem]
    text_to_text: list[str]
    top_k: int
    show_progress: bool


def _missing(framework: str, exc: ImportError) -> ClipBridgeError:
    extra = ADAPTERS[framework][1]
    return ClipBridgeError(
        f"the {framework} demo needs the {extra} extra ({exc.name or 'a package'} is missing): "
        f'pip install "clipbridge[{extra}]" (or choose another --framework)'
    )


def check_framework(framework: str) -> None:
    """Import the framework's adapter now, so that a missing extra fails before any model loads."""
    try:
        importlib.import_module(ADAPTERS[framework][0])
    except ImportError as exc:
        raise _missing(framework, exc) from exc


def _timed(fn: Callable[[], list[Hit]], kind: str, query: str) -> QueryResult:
    start = time.perf_counter()
    hits = fn()
    return QueryResult(kind, query, hits, time.perf_counter() - start)


def _recall_hits(items: list[DemoItem], top_image: Callable[[str], list[Hit]]) -> int:
    """How many captions find their own photo first (caption -> photo recall@1, as a count)."""
    found = 0
    for item in items:
        hits = top_image(item.caption)
        found += bool(hits) and hits[0].file == item.name
    return found


def _without(hits: list[Hit], name: str, k: int) -> list[Hit]:
    """Image→image hits minus the query image itself (it always ranks first)."""
    return [h for h in hits if h.file != name][:k]


# -- one function per framework -----------------------------------------------------------------
def _run_llama_index(job: Job) -> Outcome:
    try:
        from llama_index.core.indices import MultiModalVectorStoreIndex
        from llama_index.core.schema import ImageNode, TextNode

        from llama_index.embeddings.clipbridge import ClipBridgeEmbedding
    except ImportError as exc:
        raise _missing("llama-index", exc) from exc
    embed = ClipBridgeEmbedding(model_name=job.model, **job.options)
    nodes = [ImageNode(image_path=str(i.path), metadata={"file": i.name}) for i in job.items]
    nodes += [
        TextNode(text=i.caption, metadata={"file": i.name}, excluded_embed_metadata_keys=["file"])
        for i in job.items
    ]
    start = time.perf_counter()
    # Images and texts go in ONE call: an insert without texts marks the text store as empty.
    index = MultiModalVectorStoreIndex(
        nodes, embed_model=embed, image_embed_model=embed, show_progress=job.show_progress
    )
    seconds = time.perf_counter() - start
    k = job.top_k
    retriever = index.as_retriever(similarity_top_k=k, image_similarity_top_k=k + 1)

    def hits(found: list[Any]) -> list[Hit]:
        return [Hit(n.node.metadata["file"], float(n.score)) for n in found]

    results = [
        _timed(lambda q=q: hits(retriever.text_to_image_retrieve(q))[:k], "text->image", q)
        for q in job.text_to_image
    ]
    results += [
        _timed(
            lambda i=i: _without(hits(retriever.image_to_image_retrieve(str(i.path))), i.name, k),
            "image->image",
            i.name,
        )
        for i in job.image_queries
    ]
    results += [
        _timed(lambda q=q: hits(retriever.text_retrieve(q)), "text->text", q)
        for q in job.text_to_text
    ]
    recall = _recall_hits(job.items, lambda q: hits(retriever.text_to_image_retrieve(q)))
    return Outcome(seconds, results, recall)


def _run_langchain(job: Job) -> Outcome:
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_core.vectorstores import InMemoryVectorStore

        from langchain_clipbridge import ClipBridgeEmbeddings
    except ImportError as exc:
        raise _missing("langchain", exc) from exc

    class ImageUris(Embeddings):
        """Stores image URIs as documents: embed_documents embeds the images they name."""

        def __init__(self, inner: ClipBridgeEmbeddings) -> None:
            self.inner = inner

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.inner.embed_image(uris=texts)

        def embed_query(self, text: str) -> list[float]:
            return self.inner.embed_query(text)

    embeddings = ClipBridgeEmbeddings(
        model=job.model, **job.options, show_progress=job.show_progress
    )
    start = time.perf_counter()
    images = InMemoryVectorStore(ImageUris(embeddings))
    images.add_texts(
        [str(i.path) for i in job.items], metadatas=[{"file": i.name} for i in job.items]
    )
    texts = InMemoryVectorStore(embeddings)
    texts.add_texts([i.caption for i in job.items], metadatas=[{"file": i.name} for i in job.items])
    seconds = time.perf_counter() - start
    embeddings.show_progress = False  # a bar per query would only be noise
    k = job.top_k

    def hits(found: list[Any]) -> list[Hit]:
        return [Hit(doc.metadata["file"], float(score)) for doc, score in found]

    def image_query(item: DemoItem) -> list[Hit]:
        vector = embeddings.embed_image(uris=[str(item.path)])[0]
        return _without(
            hits(images.similarity_search_with_score_by_vector(vector, k + 1)), item.name, k
        )

    results = [
        _timed(lambda q=q: hits(images.similarity_search_with_score(q, k)), "text->image", q)
        for q in job.text_to_image
    ]
    results += [
        _timed(lambda i=i: image_query(i), "image->image", i.name) for i in job.image_queries
    ]
    results += [
        _timed(lambda q=q: hits(texts.similarity_search_with_score(q, k)), "text->text", q)
        for q in job.text_to_text
    ]
    recall = _recall_hits(job.items, lambda q: hits(images.similarity_search_with_score(q, 1)))
    return Outcome(seconds, results, recall)


def _run_haystack(job: Job) -> Outcome:
    try:
        from haystack import Document
        from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore

        from haystack_integrations.components.embedders.clipbridge import (
            ClipBridgeDocumentEmbedder,
            ClipBridgeDocumentImageEmbedder,
            ClipBridgeTextEmbedder,
        )
    except ImportError as exc:
        raise _missing("haystack", exc) from exc
    kwargs = {"model": job.model, **job.options, "progress_bar": job.show_progress}
    text_embedder = ClipBridgeTextEmbedder(**{**kwargs, "progress_bar": False})
    doc_embedder = ClipBridgeDocumentEmbedder(**kwargs)
    image_embedder = ClipBridgeDocumentImageEmbedder(**kwargs)
    for component in (text_embedder, doc_embedder, image_embedder):
        component.warm_up()
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    start = time.perf_counter()
    image_docs = image_embedder.run(
        documents=[
            Document(meta={"file_path": str(i.path), "file": i.name, "modality": "image"})
            for i in job.items
        ]
    )["documents"]
    text_docs = doc_embedder.run(
        documents=[
            Document(content=i.caption, meta={"file": i.name, "modality": "text"})
            for i in job.items
        ]
    )["documents"]
    store.write_documents(image_docs + text_docs)
    seconds = time.perf_counter() - start
    retriever = InMemoryEmbeddingRetriever(store, top_k=job.top_k)
    k = job.top_k
    image_vectors = {d.meta["file"]: d.embedding for d in image_docs}

    def search(vector: list[float], modality: str, top_k: int) -> list[Hit]:
        where = {"field": "meta.modality", "operator": "==", "value": modality}
        found = retriever.run(query_embedding=vector, filters=where, top_k=top_k)["documents"]
        return [Hit(d.meta["file"], float(d.score)) for d in found]

    def embed(text: str) -> list[float]:
        return text_embedder.run(text=text)["embedding"]

    results = [
        _timed(lambda q=q: search(embed(q), "image", k), "text->image", q)
        for q in job.text_to_image
    ]
    results += [
        _timed(
            lambda i=i: _without(search(image_vectors[i.name], "image", k + 1), i.name, k),
            "image->image",
            i.name,
        )
        for i in job.image_queries
    ]
    results += [
        _timed(lambda q=q: search(embed(q), "text", k), "text->text", q) for q in job.text_to_text
    ]
    recall = _recall_hits(job.items, lambda q: search(embed(q), "image", 1))
    return Outcome(seconds, results, recall)


FRAMEWORKS: dict[str, Callable[[Job], Outcome]] = {
    "llama-index": _run_llama_index,
    "langchain": _run_langchain,
    "haystack": _run_haystack,
}
