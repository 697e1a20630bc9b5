"""The ``clipbridge`` command line (``python -m clipbridge.cli`` works too).

Example::

    from clipbridge.cli import main

    main(["info", "--model", "tests/fixtures/tiny-jina-clip-v1"])
"""

from __future__ import annotations

# Imported eagerly: the function ``main`` must win over the submodule of the same name, which
# would otherwise replace this attribute the first time anything imports ``clipbridge.cli.main``.
from .main import build_parser, main

__all__ = ["build_parser", "main"]
