"""Screenshots of the catalog for the README (docs/screenshots/*.png): the demo catalog served by
``modelyard serve --demo``, photographed by Debian's Chromium through Playwright.

    .venv/bin/python scripts/catalog_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import start_server, stop_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PHONE = {"width": 390, "height": 844}

OUT = ROOT / "docs" / "screenshots"
SHOTS = [
    # (file, path, viewport, colour scheme, full page)
    ("catalog-light.png", "/catalog?cap=tools&sort=largest", {"width": 1280, "height": 900}, "light", False),
    (
        "catalog-dark.png",
        "/catalog?q=llama&kind=HF_BASE_MODEL",
        {"width": 1280, "height": 900},
        "dark",
        False,
    ),
    ("catalog-phone.png", "/catalog?q=qwen", PHONE, "light", False),
    (
        "model-page.png",
        "/catalog/accounts/fireworks/models/deepseek-v3",
        {"width": 1280, "height": 1000},
        "light",
        True,
    ),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    proc, base = start_server("sqlite:///:memory:", "--demo")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, path, viewport, scheme, full in SHOTS:
                context = browser.new_context(
                    base_url=base,
                    viewport=viewport,
                    color_scheme=scheme,
                    device_scale_factor=1,  # type: ignore[arg-type]
                )
                page = context.new_page()
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / name), full_page=full)
                context.close()
                print(OUT / name)
            browser.close()
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
