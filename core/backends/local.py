"""`LocalBackend`: a native PyTorch model family on this machine (jina-clip-v1, v2, ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from ..batching import chunk_indices, plan_token_batches
from ..config import EmbedderConfig
from ..errors import InvalidInputError
from ..images import ImageInput, ImageLimits, PreprocessSpec, load_pixels
from ..models import LoadedModel, load_model
from .base import Progress, check_dimensions, no_progress

__all__ = ["LocalBackend"]


class LocalBackend:
    """Runs a local model in PyTorch; the model is loaded once per process and shared.

    The family (chosen from the checkpoint's ``config.json``) only shows through the
    :class:`~clipbridge.models.LoadedModel` fields; nothing here branches on it.

    With ``config.dimensions = k`` every vector is the first k dimensions of the model's output
    (Matryoshka truncation; the Embedder normalizes after slicing). A ``task`` with an
    instruction in the checkpoint (jina-clip-v2's ``retrieval.query``) prepends it to each text.

    Example::

        backend = LocalBackend(EmbedderConfig(model="tests/fixtures/tiny-jina-clip-v1"))
        raw = backend.embed_texts(["a photo of a cat"])   # unnormalized float32 (1, dim)
    """

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        self.loaded: LoadedModel = load_model(
            config.model,
            device=config.device,
            dtype=config.dtype,
            revision=config.revision,
            cache_dir=config.cache_dir,
        )
        self.spec = PreprocessSpec.from_preprocessor_config(
            self.loaded.preprocessor, fast_decode=config.fast_image_decode
        )
        self.limits = ImageLimits.from_config(config)
        full = self.loaded.dimension
        check_dimensions(config.model, config.dimensions, full, self.loaded.matryoshka_dimensions)
        self._dimension = config.dimensions or full

    @property
    def dimension(self) -> int:
        """``config.dimensions`` if set (the first k dimensions), else the model's width."""
        return self._dimension

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        return self.loaded.matryoshka_dimensions

    def _with_instruction(self, texts: Sequence[str], task: str | None) -> list[str]:
        prefix = self.loaded.task_instructions.get(task, "") if task is not None else ""
        return [prefix + text for text in texts] if prefix else list(texts)

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    @property
    def dtype(self) -> torch.dtype:
        return self.loaded.dtype

    # -- text ---------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], *, task: str | None = None) -> list[list[int]]:
        """Token ids with the model's special tokens, cut to ``max_length`` (and to the model's
        own limit) keeping the last id (the end token, as the reference's truncation does).
        ``task``: the model's instruction for it is prepended, as :meth:`embed_texts` does."""
        limit = min(self.config.max_length, self.loaded.max_text_length or self.config.max_length)
        texts = self._with_instruction(texts, task)
        ids = [enc.ids for enc in self.loaded.tokenizer.encode_batch(texts)]
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
        pad = self.loaded.pad_token_id
        for batch in batches:
            width = max(len(ids[i]) for i in batch)
            padded = torch.full((len(batch), width), pad, dtype=torch.long)
            for row, i in enumerate(batch):
                padded[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
            with torch.inference_mode():
                vecs = self.loaded.model.encode_text(padded.to(self.device))
            out[batch] = vecs[:, : self.dimension].float().cpu().numpy()
            progress(len(batch))
        return out

    # -- images -------------------------------------------------------------------------------
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
                out[chunk.start : chunk.stop] = self._forward_image(pixels)
                progress(len(chunk))
        return out

    def _forward_image(self, pixels: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(pixels).to(self.device, self.loaded.compute_dtype)
        with torch.inference_mode():
            vecs = self.loaded.model.encode_image(batch)
        return vecs[:, : self.dimension].float().cpu().numpy()

    def embed_pixels(self, pixels: np.ndarray, progress: Progress = no_progress) -> np.ndarray:
        """Raw vectors for preprocessed images (float32 ``(n, 3, S, S)``, from :meth:`pixels`),
        in model batches of ``config.batch_size``."""
        out = np.empty((len(pixels), self.dimension), dtype=np.float32)
        for chunk in chunk_indices(len(pixels), self.config.batch_size):
            out[chunk.start : chunk.stop] = self._forward_image(pixels[chunk.start : chunk.stop])
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
        """Nothing to release: the shared model stays cached for other Embedders."""
