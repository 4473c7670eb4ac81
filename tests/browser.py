"""Open an HTML page in headless Chromium (Debian's `chromium`) and report what a reader would miss: images that
did not load and console errors. The page is copied with a small script that records, once it has loaded, every
image that has no pixels."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom"]
PROBE = ("<script>window.addEventListener('load',()=>{const bad=[...document.images]"
         ".filter(i=>!i.complete||i.naturalWidth===0).map(i=>i.alt||i.src.slice(0,60));"
         "document.body.setAttribute('data-check',JSON.stringify({bad:bad,n:document.images.length}));});</script>")


def needs_chromium():
    """Skip without Chromium, except in CI, whose .ci/run installs it: there a missing browser is a failure."""
    if CHROMIUM is None and os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
    return pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is not installed")


def open_page(page: Path) -> dict:
    """{"images": number of images, "broken": images without pixels, "console": console error lines}."""
    text = Path(page).read_text()
    assert "</body>" in text, f"{page} is not a whole HTML page"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(text.replace("</body>", PROBE + "</body>", 1))
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp}/profile", copy.as_uri()],
                             capture_output=True, text=True, timeout=120)
    found = re.search(r'data-check="([^"]*)"', out.stdout)
    assert found, f"Chromium did not finish loading {page}: {out.stderr[-2000:]}"
    check = json.loads(html.unescape(found.group(1)))
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return {"images": check["n"], "broken": check["bad"], "console": console}
