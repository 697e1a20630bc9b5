"""``clipbridge.core``: the core API under the name the design card uses.

The same objects as the top-level ``clipbridge`` package (see docs/design.md for why the
core's import name is ``clipbridge``)::

    from clipbridge.core import Embedder
"""

from . import __all__ as _all
from . import *  # noqa: F403

__all__ = list(_all)
