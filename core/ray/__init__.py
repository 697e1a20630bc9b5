"""clipbridge on Ray: bulk embedding with Ray Data (and ``clipbridge index --engine ray``).

Ray is imported only when a function here runs (``pip install 'clipbridge[ray]'``); inside this
package ``import ray`` is the top-level Ray (absolute imports), not ``clipbridge.ray``.

Example::

    import ray
    from clipbridge import EmbedderConfig
    from clipbridge.ray import embed_dataset

    ds = ray.data.from_items([{"text": "a bridge at dusk"}, {"text": "a red bicycle"}])
    ds = embed_dataset(ds, column="text", kind="text", config=EmbedderConfig())
"""

from .cluster import connect
from .dataset import EmbedBatches, embed_dataset
from .indexing import RayEngine, RayOptions

__all__ = ["EmbedBatches", "RayEngine", "RayOptions", "connect", "embed_dataset"]
