"""``clipbridge search``: the nearest rows of a ``clipbridge index`` file to a text or an image.

Example::

    from clipbridge import Embedder
    from clipbridge.search import search_index

    hits = search_index("photos.parquet", Embedder("jinaai/jina-clip-v1"), text="a red bridge")
    hits[0].id, hits[0].score
"""

from .run import Hit, nearest, search_index

__all__ = ["Hit", "nearest", "search_index"]
