"""Render the ``clipbridge demo`` page to a PNG with headless Chromium (a manual check, not CI).

Usage::

    apt-get install -y chromium            # Debian package; or pass --chromium PATH
    python scripts/render_demo.py --model tests/fixtures/tiny-jina-clip-v1 --png demo.png
    python scripts/render_demo.py --html demo.html --png demo.png      # an existing page

Without ``--html`` it first runs ``clipbridge demo`` (with the given ``--framework``, ``--model``
and ``--backend``) into a temporary folder. Chromium runs with a fresh profile, no GPU and no
background networking.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def find_chromium(explicit: str | None) -> str:
    """The Chromium executable: ``explicit``, else the first of :data:`CHROMIUM_NAMES` on PATH."""
    for name in (explicit,) if explicit else CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("render_demo: no Chromium found; apt-get install -y chromium, or --chromium")


def run_demo(args: argparse.Namespace, out: Path) -> None:
    command = [sys.executable, "-m", "clipbridge.cli", "demo", "--framework", args.framework]
    command += ["--backend", args.backend, "--out", str(out), "--no-progress"]
    if args.model:
        command += ["--model", args.model]
    subprocess.run(command, check=True)


def screenshot(chromium: str, html: Path, png: Path, width: int, height: int) -> None:
    """Load ``html`` in a fresh headless Chromium profile and save a ``width`` x ``height`` PNG."""
    with tempfile.TemporaryDirectory(prefix="clipbridge-chromium-") as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, timeout=120, capture_output=True)
    if not png.is_file():
        raise SystemExit(f"render_demo: Chromium wrote no {png}")
    trim_bottom(png)


def trim_bottom(png: Path, margin: int = 24) -> None:
    """Cut the empty background below the page's content (the window is taller than the page)."""
    from PIL import Image, ImageChops

    with Image.open(png) as img:
        img.load()
    rgb = img.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, background).getbbox()
    if box is not None and box[3] + margin < rgb.height:
        img.crop((0, 0, rgb.width, box[3] + margin)).save(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, help="an existing demo page (else run the demo)")
    parser.add_argument("--png", type=Path, default=Path("demo.png"))
    parser.add_argument("--framework", default="llama-index")
    parser.add_argument("--model", default=None)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=6000, help="window height; trimmed after")
    parser.add_argument("--chromium", default=None, help="path to the browser executable")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    with tempfile.TemporaryDirectory(prefix="clipbridge-demo-") as tmp:
        html = args.html
        if html is None:
            html = Path(tmp) / "demo.html"
            run_demo(args, html)
        screenshot(chromium, html, args.png, args.width, args.height)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
