"""Request and response bodies of the Jina Embeddings API, as pydantic models.

The request is deliberately loose about ``input`` items (any JSON value): a bad item is answered
with 400 naming ``input[i]`` by :mod:`clipbridge.serve.inputs`, not with a schema error.
Unknown top-level fields that Jina clients send (``late_chunking``, ``truncate``, ...) are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

__all__ = [
    "EmbeddingData",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "ErrorResponse",
    "ModelCard",
    "ModelList",
    "Usage",
    "ValidationErrorResponse",
]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``: Jina's request (OpenAI's ``encoding_format`` also accepted)."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="the served model's name or hub id")
    input: str | list[Any] = Field(
        ...,
        description='one string, or a list of strings, {"text"}, {"image": URL | base64 | '
        'data URI}, {"url": URL}, {"bytes": base64}',
    )
    embedding_type: str | None = Field(
        None,
        description='"float" (default), "base64" (float32 LE), "binary" or "ubinary" (sign bits '
        "packed 8 per byte, as int8 / uint8 ints)",
    )
    encoding_format: str | None = Field(None, description="OpenAI's name for embedding_type")
    encoding_type: str | None = Field(None, description="LlamaIndex's name for embedding_type")
    normalized: StrictBool = Field(True, description="L2-normalize the vectors")
    dimensions: StrictInt | None = Field(
        None, description="the first k (Matryoshka) dimensions, 1 to the model's width"
    )
    task: str | None = Field(
        None,
        description='"retrieval.query" adds the model\'s query instruction (jina-clip-v2); '
        "other tasks embed as documents; jina-clip-v1 ignores it",
    )

    def output_type(self) -> str | None:
        """The requested output encoding under whichever of the three names was used."""
        return self.embedding_type or self.encoding_format or self.encoding_type


class Usage(BaseModel):
    total_tokens: int
    prompt_tokens: int


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | list[int] | str = Field(
        ..., description="floats, ints (binary/ubinary: ceil(dim / 8) bytes), or base64 of float32"
    )


class EmbeddingResponse(BaseModel):
    model: str
    object: Literal["list"] = "list"
    usage: Usage
    data: list[EmbeddingData]


class ErrorResponse(BaseModel):
    detail: str


class FieldError(BaseModel):
    message: str
    field: str


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str = "clipbridge"
    dimension: int
    aliases: list[str]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
