"""`LocalBackend`: a native PyTorch model family on this machine (jina-clip-v1, v2, ...)."""

from __future__ import annotations

import numpy as np
import torch

from ..config import EmbedderConfig
from ..models import LoadedModel, load_model
from .pipeline import ModelPipeline

__all__ = ["LocalBackend"]


class LocalBackend(ModelPipeline):
    """Runs a local model in PyTorch; the model is loaded once per process and shared.

    The family (chosen from the checkpoint's ``config.json``) only shows through the
    :class:`~clipbridge.models.LoadedModel` fields; nothing here branches on it. Tokenization,
    batching, image loading and Matryoshka slicing are :class:`ModelPipeline`'s, shared with the
    ONNX backend; this class holds only the two forward calls.

    With ``config.dimensions = k`` every vector is the first k dimensions of the model's output
    (Matryoshka truncation; the Embedder normalizes after slicing). A ``task`` with an
    instruction in the checkpoint (jina-clip-v2's ``retrieval.query``) prepends it to each text.

    Example::

        backend = LocalBackend(EmbedderConfig(model="tests/fixtures/tiny-jina-clip-v1"))
        raw = backend.embed_texts(["a photo of a cat"])   # unnormalized float32 (1, dim)
    """

    def __init__(self, config: EmbedderConfig) -> None:
        self.loaded: LoadedModel = load_model(
            config.model,
            device=config.device,
            dtype=config.dtype,
            revision=config.revision,
            cache_dir=config.cache_dir,
        )
        super().__init__(config, self.loaded)

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    @property
    def dtype(self) -> torch.dtype:
        return self.loaded.dtype

    def forward_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # The model finds the padding from pad_token_id itself; ``mask`` says the same.
        with torch.inference_mode():
            vecs = self.loaded.model.encode_text(torch.from_numpy(ids).to(self.device))
        return vecs.float().cpu().numpy()

    def forward_image(self, pixels: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(pixels).to(self.device, self.loaded.compute_dtype)
        with torch.inference_mode():
            vecs = self.loaded.model.encode_image(batch)
        return vecs.float().cpu().numpy()
