"""OpenMP threads that sleep when idle: set before torch is first imported (no torch here).

PyTorch's CPU kernels run on OpenMP threads, which by default spin for a while after each
parallel region. On a CPU shared with other processes a spinning thread holds a core its sibling
needs, and every layer waits: measured 2-4x slower end to end with 2 threads at load 5-10 on
2 cores (benchmarks/cpu_runtimes.py, docs/design.md). ``OMP_WAIT_POLICY=PASSIVE`` makes them
sleep instead; a value the user set wins, and once torch is loaded it is too late to change.

Example::

    from clipbridge.models.omp import prefer_passive_omp

    prefer_passive_omp()  # before the first ``import torch``
"""

from __future__ import annotations

import os
import sys

__all__ = ["OMP_POLICY_ENV", "prefer_passive_omp"]

OMP_POLICY_ENV = "OMP_WAIT_POLICY"


def prefer_passive_omp() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set or torch is already imported.

    Returns whether it was set now.
    """
    if "torch" in sys.modules or os.environ.get(OMP_POLICY_ENV):
        return False
    os.environ[OMP_POLICY_ENV] = "PASSIVE"
    return True
