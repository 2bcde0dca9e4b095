"""Opens a local HTML file in the system's headless Chromium through Playwright (a test tool).

`render(path)` collects every console error, uncaught exception and request to anything but local
(file:/data:/...) URLs, and returns them with a PNG screenshot. Playwright drives the browser found on
the PATH (Debian's `chromium`) through `executable_path`; it never downloads one of its own.
External requests are answered with an abort, so a test never reaches the network, and still reported.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
# Requests to these schemes never leave the machine; anything else (http, https, ws, ftp...) does.
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:", "blob:")
# Headless as root in a container: no sandbox (it cannot start as root), no GPU, and nothing of
# Chromium's own reaching out (QUIC, component updates, sync, background networking).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


@dataclasses.dataclass
class Rendered:
    """What a page did while it loaded."""

    console_errors: list[str]
    exceptions: list[str]
    external_requests: list[str]
    screenshot: bytes

    @property
    def problems(self) -> list[str]:
        """Every console error, exception and external request, one line each."""
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"exception: {e}" for e in self.exceptions),
            *(f"external request: {u}" for u in self.external_requests),
        ]


def find_chromium() -> str | None:
    """Returns the path of a Chromium-compatible browser on the PATH, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def render(
    page: str | Path, chromium: str | None = None, width: int = 1280, height: int = 1600, timeout: float = 60.0
) -> Rendered:
    """Opens a local HTML file in headless Chromium and returns what it logged, requested and showed.

    Args:
        page: the HTML file.
        chromium: the browser executable (default: the first of CANDIDATES on the PATH).
        width: viewport width in CSS pixels.
        height: viewport height in CSS pixels.
        timeout: seconds to wait for the browser to start and for the page to load.

    Returns:
        Console errors, uncaught exceptions, requests to non-local URLs, and a PNG of the page.

    Raises:
        BrowserError: no browser was found, or it failed to start or to load the page.
    """
    from playwright.sync_api import ConsoleMessage, Request, Route, sync_playwright
    from playwright.sync_api import Error as PlaywrightError

    executable = chromium or find_chromium()
    if executable is None:
        raise BrowserError(f"no Chromium on the PATH (looked for {', '.join(CANDIDATES)})")
    url = Path(page).resolve().as_uri()
    console: list[str] = []
    exceptions: list[str] = []
    external: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # "error" covers console.error and the browser's own errors (a CSP violation, a failed load).
        if message.type in ("error", "assert"):
            console.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(LOCAL_SCHEMES):
            external.append(request.url)

    def keep_local(route: Route) -> None:
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    milliseconds = timeout * 1000
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=list(FLAGS), headless=True, timeout=milliseconds
            )
            try:
                context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
                context.route("**/*", keep_local)
                tab = context.new_page()
                tab.on("console", on_console)
                tab.on("pageerror", lambda error: exceptions.append(str(error)))
                tab.on("request", on_request)
                tab.goto(url, wait_until="load", timeout=milliseconds)
                # Console messages and failed requests can follow the load event.
                tab.wait_for_load_state("networkidle", timeout=milliseconds)
                screenshot = tab.screenshot(type="png", timeout=milliseconds)
            finally:
                browser.close()
    except PlaywrightError as error:
        raise BrowserError(f"Chromium ({executable}) failed on {url}: {error.message.splitlines()[0]}") from error
    return Rendered(console, exceptions, list(dict.fromkeys(external)), screenshot)


def png_size(png: bytes) -> tuple[int, int]:
    """Returns (width, height) of a PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        if image.format != "PNG":
            raise ValueError("not a PNG")
        width, height = image.size
    return int(width), int(height)


def distinct_rows(png: bytes) -> int:
    """Counts the distinct pixel rows of a PNG: a blank page has one, a page of text hundreds."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size
    data = rgb.tobytes()
    stride = width * 3
    return len({data[i * stride : (i + 1) * stride] for i in range(height)})


def require_chromium() -> str:
    """Returns the browser for a test; without one, fails the test in CI (CI=true) and skips it elsewhere."""
    import pytest

    found = find_chromium()
    if found is not None:
        return found
    reason = (
        f"no Chromium on the PATH (looked for {', '.join(CANDIDATES)}); install Debian's `chromium` package "
        "(.ci/run does)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
