"""Multimodal RAG with LangChain: photos and captions in vector stores, retrieved for a question.

    python examples/langchain_rag.py "Which photo shows something to drink?"
    python examples/langchain_rag.py --model tests/fixtures/tiny-jina-clip-v1   # offline, tiny

jina-clip-v1 (through clipbridge) embeds the photos and the captions into one vector space.
``InMemoryVectorStore`` embeds what it stores as text, so the photos go into a second store
whose embeddings object embeds the image each stored URI names. The answer step is optional:
with OPENAI_API_KEY set and ``pip install langchain-openai`` a chat model answers from the
retrieved context; without them the script stops after retrieval.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_clipbridge import ClipBridgeEmbeddings

DATA = Path(__file__).resolve().parent / "data"
QUESTION = "Which photo shows something to drink?"


class ImageUriEmbeddings(Embeddings):
    """Documents are image paths/URLs (embedded as images); queries are text."""

    def __init__(self, embeddings: ClipBridgeEmbeddings) -> None:
        self.embeddings = embeddings

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_image(uris=texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embeddings.embed_query(text)


def build_stores(model: str, backend: str) -> tuple[InMemoryVectorStore, InMemoryVectorStore]:
    """(photos, captions): two stores, one embedding model, one vector space."""
    captions = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
    embeddings = ClipBridgeEmbeddings(model=model, backend=backend)
    photos = InMemoryVectorStore(ImageUriEmbeddings(embeddings))
    photos.add_texts(
        [str(DATA / name) for name in captions], metadatas=[{"file": n} for n in captions]
    )
    texts = InMemoryVectorStore(embeddings)
    texts.add_texts(list(captions.values()), metadatas=[{"file": n} for n in captions])
    return photos, texts


def answer(question: str, photos: list[Document], texts: list[Document]) -> str | None:
    """Ask a chat model, if one is configured; None (and a note) otherwise."""
    if not os.environ.get("OPENAI_API_KEY"):
        print("LLM step skipped: set OPENAI_API_KEY to generate an answer")
        return None
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        print("LLM step skipped: pip install langchain-openai")
        return None
    context = "\n".join(
        [f"- photo {d.metadata['file']}" for d in photos] + [f"- {d.page_content}" for d in texts]
    )
    prompt = f"Context:\n{context}\n\nAnswer briefly from the context: {question}"
    return str(ChatOpenAI(model="gpt-4o-mini").invoke(prompt).content)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default=QUESTION)
    parser.add_argument("--model", default="jinaai/jina-clip-v1", help="hub id or local folder")
    parser.add_argument("--backend", choices=("local", "api"), default="local")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)

    photos, texts = build_stores(args.model, args.backend)
    text_hits = texts.similarity_search_with_score(args.question, k=args.top_k)
    photo_hits = photos.similarity_search_with_score(args.question, k=args.top_k)
    print(f"question: {args.question}")
    for doc, score in text_hits:
        print(f"text   {score:.4f}  {doc.page_content}")
    for doc, score in photo_hits:
        print(f"image  {score:.4f}  {doc.metadata['file']}")
    reply = answer(args.question, [d for d, _ in photo_hits], [d for d, _ in text_hits])
    if reply:
        print(f"answer: {reply}")


if __name__ == "__main__":
    main()
