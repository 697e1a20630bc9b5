"""Multimodal RAG with Haystack: photos and captions in one document store, found for a question.

    python examples/haystack_rag.py "Which photo shows something to drink?"
    python examples/haystack_rag.py --model tests/fixtures/tiny-jina-clip-v1   # offline, tiny

jina-clip-v1 (through clipbridge) embeds the photos and the captions into one vector space. The
query pipeline embeds the question once and feeds two retrievers, one filtered to photos and
one to captions. The answer step is optional: with OPENAI_API_KEY set, Haystack's
OpenAIChatGenerator answers from the retrieved context; without it the script stops there.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentEmbedder,
    ClipBridgeDocumentImageEmbedder,
    ClipBridgeTextEmbedder,
)

DATA = Path(__file__).resolve().parent / "data"
QUESTION = "Which photo shows something to drink?"


def build_store(model: str, backend: str) -> InMemoryDocumentStore:
    """Embed the photos (meta["file_path"]) and the captions, write both into one store."""
    captions = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    photos = [
        Document(meta={"file_path": str(DATA / name), "file": name, "modality": "image"})
        for name in captions
    ]
    texts = [
        Document(content=text, meta={"file": name, "modality": "text"})
        for name, text in captions.items()
    ]
    indexing = Pipeline()
    indexing.add_component("photos", ClipBridgeDocumentImageEmbedder(model=model, backend=backend))
    indexing.add_component("texts", ClipBridgeDocumentEmbedder(model=model, backend=backend))
    indexing.add_component("writer", DocumentWriter(store))
    indexing.connect("photos.documents", "writer.documents")
    indexing.connect("texts.documents", "writer.documents")
    indexing.run({"photos": {"documents": photos}, "texts": {"documents": texts}})
    return store


def query_pipeline(store: InMemoryDocumentStore, model: str, backend: str, k: int) -> Pipeline:
    """question -> embedding -> two retrievers (photos, captions)."""
    pipe = Pipeline()
    embedder = ClipBridgeTextEmbedder(model=model, backend=backend, progress_bar=False)
    pipe.add_component("embedder", embedder)
    for modality in ("image", "text"):
        where = {"field": "meta.modality", "operator": "==", "value": modality}
        pipe.add_component(modality, InMemoryEmbeddingRetriever(store, filters=where, top_k=k))
        pipe.connect("embedder.embedding", f"{modality}.query_embedding")
    return pipe


def answer(question: str, hits: list[Document]) -> str | None:
    """Ask an LLM, if a key is configured; None (and a note) otherwise."""
    if not os.environ.get("OPENAI_API_KEY"):
        print("LLM step skipped: set OPENAI_API_KEY to generate an answer")
        return None
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage

    context = "\n".join(
        f"- photo {d.meta['file']}" if d.meta["modality"] == "image" else f"- {d.content}"
        for d in hits
    )
    prompt = f"Context:\n{context}\n\nAnswer briefly from the context: {question}"
    reply = OpenAIChatGenerator(model="gpt-4o-mini").run([ChatMessage.from_user(prompt)])
    return reply["replies"][0].text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default=QUESTION)
    parser.add_argument("--model", default="jinaai/jina-clip-v1", help="hub id or local folder")
    parser.add_argument("--backend", choices=("local", "api"), default="local")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)

    store = build_store(args.model, args.backend)
    pipe = query_pipeline(store, args.model, args.backend, args.top_k)
    result = pipe.run({"embedder": {"text": args.question}})
    hits = result["text"]["documents"] + result["image"]["documents"]
    print(f"question: {args.question}")
    for doc in hits:
        kind = doc.meta["modality"]
        print(f"{kind:<5}  {doc.score:.4f}  {doc.meta['file'] if kind == 'image' else doc.content}")
    reply = answer(args.question, hits)
    if reply:
        print(f"answer: {reply}")


if __name__ == "__main__":
    main()
