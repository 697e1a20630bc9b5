"""`ModelPipeline`: what every backend running a model family here shares (no torch).

Tokenization with truncation, length-sorted token batches padded with the model's pad id, image
loading in threads one batch ahead of the model, Matryoshka slicing and async wrappers live here
once; a backend adds only the forward calls. :class:`~clipbridge.backends.local.LocalBackend`
runs them in PyTorch, :class:`~clipbridge.backends.onnx.OnnxBackend` in ONNX Runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..batching import chunk_indices, plan_token_batches
from ..config import EmbedderConfig
from ..errors import InvalidInputError
from ..images import ImageInput, ImageLimits, PreprocessSpec, load_pixels
from .base import Progress, check_dimensions, no_progress

__all__ = ["ModelPipeline"]


class ModelPipeline:
    """The shared part of the local backends; subclasses implement the two forward calls.

    ``info`` is the model's :class:`~clipbridge.models.ModelInfo` (or a
    :class:`~clipbridge.models.LoadedModel`, which carries the same fields).

    Example::

        class EchoBackend(ModelPipeline):
            def forward_text(self, ids, mask):      # int64 (B, T) padded, bool (B, T)
                return np.zeros((len(ids), self.model_info.dimension), np.float32)

            def forward_image(self, pixels):        # float32 (B, 3, S, S)
                return np.zeros((len(pixels), self.model_info.dimension), np.float32)
    """

    def __init__(self, config: EmbedderConfig, info: Any) -> None:
        self.config = config
        self.model_info = info
        self.spec = PreprocessSpec.from_preprocessor_config(
            info.preprocessor, fast_decode=config.fast_image_decode
        )
        self.limits = ImageLimits.from_config(config)
        full = info.dimension
        check_dimensions(config.model, config.dimensions, full, info.matryoshka_dimensions)
        self._dimension = config.dimensions or full

    # -- what a backend implements ----------------------------------------------------------------
    def forward_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw float32 ``(B, full width)`` vectors for right-padded ``ids`` (int64 ``(B, T)``);
        ``mask`` is True on real tokens."""
        raise NotImplementedError

    def forward_image(self, pixels: np.ndarray) -> np.ndarray:
        """Raw float32 ``(B, full width)`` vectors for preprocessed float32 ``(B, 3, S, S)``."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        """``config.dimensions`` if set (the first k dimensions), else the model's width."""
        return self._dimension

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        return self.model_info.matryoshka_dimensions

    def _with_instruction(self, texts: Sequence[str], task: str | None) -> list[str]:
        prefix = self.model_info.task_instructions.get(task, "") if task is not None else ""
        return [prefix + text for text in texts] if prefix else list(texts)

    def tokenize(self, texts: Sequence[str], *, task: str | None = None) -> list[list[int]]:
        """Token ids with the model's special tokens, cut to ``max_length`` (and to the model's
        own limit) keeping the last id (the end token, as the reference's truncation does).
        ``task``: the model's instruction for it is prepended, as :meth:`embed_texts` does."""
        own = self.model_info.max_text_length
        limit = min(self.config.max_length, own or self.config.max_length)
        texts = self._with_instruction(texts, task)
        ids = [enc.ids for enc in self.model_info.tokenizer.encode_batch(texts)]
        return [seq if len(seq) <= limit else [*seq[: limit - 1], seq[-1]] for seq in ids]

    def embed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray:
        return self.embed_token_ids(self.tokenize(texts, task=task), progress)

    def embed_token_ids(
        self, ids: Sequence[Sequence[int]], progress: Progress = no_progress
    ) -> np.ndarray:
        """Raw vectors for already tokenized texts (each with [CLS]/[SEP], no padding)."""
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        batches = plan_token_batches(
            [len(seq) for seq in ids],
            batch_size=self.config.batch_size,
            max_batch_tokens=self.config.max_batch_tokens,
        )
        pad = self.model_info.pad_token_id
        for batch in batches:
            width = max(len(ids[i]) for i in batch)
            padded = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=bool)
            for row, i in enumerate(batch):
                padded[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = True
            out[batch] = self.forward_text(padded, mask)[:, : self.dimension]
            progress(len(batch))
        return out

    def pixels(self, image: ImageInput, index: int = 0) -> np.ndarray:
        """The preprocessed pixel array of one image, as the model sees it."""
        return load_pixels(image, index, self.spec, self.limits)

    def embed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray:
        out = np.empty((len(images), self.dimension), dtype=np.float32)
        chunks = chunk_indices(len(images), self.config.batch_size)
        # Decoding runs in threads one batch ahead of the model; only two batches of pixels are
        # held at a time, however many images come in.
        with ThreadPoolExecutor(self.config.image_workers, "clipbridge-img") as pool:

            def submit(chunk: range) -> list[Future[np.ndarray]]:
                return [pool.submit(self.pixels, images[i], i) for i in chunk]

            pending = submit(chunks[0]) if chunks else []
            for number, chunk in enumerate(chunks):
                futures = pending
                pending = submit(chunks[number + 1]) if number + 1 < len(chunks) else []
                try:
                    pixels = np.stack([f.result() for f in futures])
                except InvalidInputError as exc:
                    for f in pending:
                        f.cancel()
                    done = {i: out[i].copy() for i in range(chunk.start)}
                    raise InvalidInputError(exc.index, exc.reason, partial=done) from exc
                out[chunk.start : chunk.stop] = self.forward_image(pixels)[:, : self.dimension]
                progress(len(chunk))
        return out

    def embed_pixels(self, pixels: np.ndarray, progress: Progress = no_progress) -> np.ndarray:
        """Raw vectors for preprocessed images (float32 ``(n, 3, S, S)``, from :meth:`pixels`),
        in model batches of ``config.batch_size``."""
        out = np.empty((len(pixels), self.dimension), dtype=np.float32)
        for chunk in chunk_indices(len(pixels), self.config.batch_size):
            batch = pixels[chunk.start : chunk.stop]
            out[chunk.start : chunk.stop] = self.forward_image(batch)[:, : self.dimension]
            progress(len(chunk))
        return out

    # -- async: the work is CPU/GPU bound, so it runs in a worker thread ------------------------
    async def aembed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray:
        return await asyncio.to_thread(self.embed_texts, texts, progress, task=task)

    async def aembed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray:
        return await asyncio.to_thread(self.embed_images, images, progress)

    def close(self) -> None:
        """Nothing to release: a shared model stays cached for other Embedders."""
