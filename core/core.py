"""``clipbridge.core``: the core API under the name the design card uses.

The same objects as the top-level ``clipbridge`` package (see docs/design.md for why the
core's import name is ``clipbridge``)::

    from clipbridge.core import Embedder
"""

from . import *  # noqa: F403
from . import __all__ as _all

__all__ = list(_all)
