"""Network limits against misbehaving servers on 127.0.0.1: seconds and RSS until clipbridge stops.

Usage::

    python benchmarks/network_limits.py               # ~10 s with today's code
    BODY_MB=300 python benchmarks/network_limits.py   # size of the oversized API answer

Three faults (servers from ``tests/fault_server.py``):

- an image URL whose server drips one byte a second, with ``image_fetch_timeout=1``;
- an API server dripping its answer one byte a second, with ``timeout=2``;
- an API server answering ``BODY_MB`` of junk (chunked, no length) to a request for two vectors
  (RSS growth measured in a fresh interpreter: peak RSS minus RSS before the call).

Each prints the seconds until the call failed and the ratio to its configured limit; with
bounded limits both ratios stay near 1 and the RSS growth stays a few MB whatever ``BODY_MB`` is.
Before issue 11 the drips ran for as long as the server kept dripping (7.6 s and 208 s in the
issue; ``DRIP_BYTES`` seconds here) and the RSS grew ~3x the body size.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

sys.path.insert(0, str(c.ROOT / "tests"))
from fault_server import FaultServer, drip

DRIP_BYTES = int(os.environ.get("DRIP_BYTES", "12"))
BODY_MB = int(os.environ.get("BODY_MB", "300"))

CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r}); sys.path.insert(0, {tests!r})
import _common as c
from fault_server import FaultServer, endless
from clipbridge import BackendError, Embedder
# Chunked, no Content-Length: the size is only known by reading.
with FaultServer(endless(b" " * 2**16, total={mb} * 2**20)) as server:
    emb = Embedder("tiny", backend="api", base_url=server.url, api_key="k", dimensions=2,
                   max_retries=0)
    before = c.current_rss_mb()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to now: imports before this do not count
    start = time.perf_counter()
    try:
        emb.embed_texts(["a", "b"])
        error = "none"
    except BackendError as exc:
        error = str(exc)[:90]
    secs = time.perf_counter() - start
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
peak = int(hwm.split()[1]) / 1024
print(json.dumps({{"secs": secs, "before_mb": before, "peak_mb": peak, "error": error}}))
"""


def _private_ok() -> dict[str, bool]:
    from clipbridge import EmbedderConfig

    known = EmbedderConfig.field_names()
    return {"allow_private_urls": True} if "allow_private_urls" in known else {}


def _seconds(call) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        call()
        outcome = "no error"
    except Exception as exc:  # the benchmark reports whatever ended the call
        outcome = f"{type(exc).__name__}: {str(exc)[:70]}"
    return time.perf_counter() - start, outcome


def main() -> None:
    from clipbridge import Embedder

    c.print_machine()
    png = (c.FIXTURE.parent / "images" / "rgba_40.png").read_bytes()[:DRIP_BYTES]
    rows = []
    with FaultServer(drip(png, every=1.0)) as server:
        emb = Embedder(str(c.FIXTURE), image_fetch_timeout=1.0, **_private_ok())
        secs, outcome = _seconds(lambda: emb.embed_images([server.url + "/a.png"]))
        rows.append(("image URL drip", "1.0", f"{secs:.1f}", f"{secs / 1.0:.2f}", outcome))
    with FaultServer(drip(b"x" * DRIP_BYTES, every=1.0)) as server:
        api = Embedder(
            "tiny", backend="api", base_url=server.url, api_key="k", timeout=2.0, max_retries=0
        )
        secs, outcome = _seconds(lambda: api.embed_texts(["a"]))
        rows.append(("API answer drip", "2.0", f"{secs:.1f}", f"{secs / 2.0:.2f}", outcome))
    c.print_table(
        f"dripping servers (1 byte/s, {DRIP_BYTES} bytes)",
        rows,
        ("fault", "limit s", "took s", "took/limit", "outcome"),
    )
    res = c.run_child(
        CHILD.format(
            bench=str(Path(__file__).resolve().parent), tests=str(c.ROOT / "tests"), mb=BODY_MB
        )
    )
    growth = res["peak_mb"] - res["before_mb"]
    c.print_table(
        f"oversized API answer ({BODY_MB} MB for 2 vectors)",
        [(f"{res['secs']:.2f}", f"{growth:.0f}", f"{growth / BODY_MB:.2f}", res["error"])],
        ("took s", "RSS growth MB", "growth/body", "outcome"),
    )


if __name__ == "__main__":
    main()
