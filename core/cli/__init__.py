"""The ``clipbridge`` command line (``python -m clipbridge.cli`` works too).

Example::

    from clipbridge.cli import main

    main(["info", "--model", "tests/fixtures/tiny-jina-clip-v1"])
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``clipbridge`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from .main import main as run

    return run(argv)
