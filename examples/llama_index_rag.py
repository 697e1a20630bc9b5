"""Multimodal RAG with LlamaIndex: photos and captions in one index, retrieved for a question.

    python examples/llama_index_rag.py "Which photo shows something to drink?"
    python examples/llama_index_rag.py --model tests/fixtures/tiny-jina-clip-v1   # offline, tiny

jina-clip-v1 (through clipbridge) embeds the photos and the captions into one vector space, so a
question finds both. The answer step is optional: with OPENAI_API_KEY set and
``pip install llama-index-llms-openai`` an LLM answers from the retrieved context; without them
the script stops after retrieval.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageNode, NodeWithScore, TextNode

from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

DATA = Path(__file__).resolve().parent / "data"
QUESTION = "Which photo shows something to drink?"


def build_index(model: str, backend: str) -> MultiModalVectorStoreIndex:
    """One index, two stores: images (image vectors) and captions (text vectors)."""
    captions = json.loads((DATA / "captions.json").read_text(encoding="utf-8"))
    embed = ClipBridgeEmbedding(model_name=model, backend=backend)
    nodes = [ImageNode(image_path=str(DATA / name), metadata={"file": name}) for name in captions]
    nodes += [
        TextNode(text=text, metadata={"file": name}, excluded_embed_metadata_keys=["file"])
        for name, text in captions.items()
    ]
    # Insert both modalities in one call: an insert without texts marks the text store empty.
    return MultiModalVectorStoreIndex(nodes, embed_model=embed, image_embed_model=embed)


def retrieve(index: MultiModalVectorStoreIndex, question: str, k: int) -> list[NodeWithScore]:
    """Top-k captions and top-k photos for the question (text->text and text->image)."""
    retriever = index.as_retriever(similarity_top_k=k, image_similarity_top_k=k)
    return retriever.retrieve(question)


def answer(question: str, hits: list[NodeWithScore]) -> str | None:
    """Ask an LLM, if one is configured; None (and a note) otherwise."""
    if not os.environ.get("OPENAI_API_KEY"):
        print("LLM step skipped: set OPENAI_API_KEY to generate an answer")
        return None
    try:
        from llama_index.llms.openai import OpenAI
    except ImportError:
        print("LLM step skipped: pip install llama-index-llms-openai")
        return None
    context = "\n".join(
        f"- photo {h.node.metadata['file']}" if isinstance(h.node, ImageNode) else f"- {h.text}"
        for h in hits
    )
    prompt = f"Context:\n{context}\n\nAnswer briefly from the context: {question}"
    return str(OpenAI(model="gpt-4o-mini").complete(prompt))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default=QUESTION)
    parser.add_argument("--model", default="jinaai/jina-clip-v1", help="hub id or local folder")
    parser.add_argument("--backend", choices=("local", "api"), default="local")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)

    index = build_index(args.model, args.backend)
    hits = retrieve(index, args.question, args.top_k)
    print(f"question: {args.question}")
    for hit in hits:
        kind = "image" if isinstance(hit.node, ImageNode) else "text"
        shown = hit.node.metadata["file"] if kind == "image" else hit.text
        print(f"{kind:<5}  {hit.score:.4f}  {shown}")
    reply = answer(args.question, hits)
    if reply:
        print(f"answer: {reply}")


if __name__ == "__main__":
    main()
