"""A headless Chromium driven over the DevTools protocol, with the standard library only (a test tool).

`render(path)` opens a local HTML file, collects every console error, uncaught exception and request
to anything but file:/data: URLs, and returns them with a PNG screenshot. Chromium is started with
--remote-debugging-pipe: it reads NUL-terminated JSON commands on fd 3 and answers on fd 4.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
# Requests to these schemes never leave the machine; anything else (http, https, ws, ftp...) does.
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:", "blob:")


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


class _Pipe:
    """The DevTools protocol over a pair of pipes: one message per NUL-terminated JSON text."""

    def __init__(self, to_browser: int, from_browser: int, timeout: float) -> None:
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.timeout = timeout
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, left))
            if not ready:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Sends one command and returns its result; events that arrive meanwhile are kept in `events`."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise BrowserError(f"{method} failed: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, seconds: float) -> bool:
        """Waits for an event; True when it arrived."""
        if any(e.get("method") == method for e in self.events):
            return True
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event = self._read_message(deadline)
            except BrowserError:
                return False
            self.events.append(event)
            if event.get("method") == method:
                return True
        return False

    def drain(self, seconds: float) -> None:
        """Collects the events that arrive within `seconds` (late console messages, failed requests)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(self._read_message(deadline))
            except BrowserError:
                return


def _describe_exception(params: dict[str, Any]) -> str:
    details = params.get("exceptionDetails", {})
    exception = details.get("exception", {})
    return str(exception.get("description") or details.get("text") or details)


def _collect(events: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    console: list[str] = []
    exceptions: list[str] = []
    external: list[str] = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            exceptions.append(_describe_exception(params))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            console.append(f"{entry.get('source', '')}: {entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = str(params.get("request", {}).get("url", ""))
            if not url.startswith(LOCAL_SCHEMES):
                external.append(url)
    return console, exceptions, external


def render(
    page: str | Path, chromium: str | None = None, width: int = 1280, height: int = 1600, timeout: float = 60.0
) -> Rendered:
    """Opens a local HTML file in headless Chromium and returns what it logged, requested and showed.

    Args:
        page: the HTML file.
        chromium: the browser executable (default: the first of CANDIDATES on the PATH).
        width: viewport width in CSS pixels.
        height: viewport height in CSS pixels.
        timeout: seconds to wait for any one answer of the browser.

    Returns:
        Console errors, uncaught exceptions, requests to non-local URLs, and a PNG of the page.

    Raises:
        BrowserError: no browser was found, or it failed to start or answer.
    """
    executable = chromium or find_chromium()
    if executable is None:
        raise BrowserError(f"no Chromium on the PATH (looked for {', '.join(CANDIDATES)})")
    url = Path(page).resolve().as_uri()
    commands_read, commands_write = os.pipe()
    answers_read, answers_write = os.pipe()

    def wire_fds() -> None:  # runs in the child: Chromium expects the pipe on fds 3 and 4
        # Moved above 10 first, so that placing one on fd 3 or 4 cannot overwrite the other.
        high_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(answers_write, fcntl.F_DUPFD, 10)
        os.dup2(high_read, 3)  # dup2 leaves the copy inheritable, so it survives exec
        os.dup2(high_write, 4)

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",  # CI containers run as root, where the sandbox cannot start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Not close_fds: it would close fds 3 and 4 after wire_fds; every other fd Python opened is
            # close-on-exec anyway.
            close_fds=False,
            preexec_fn=wire_fds,
        )
        os.close(commands_read)
        os.close(answers_write)
        pipe = _Pipe(commands_write, answers_read, timeout)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            pipe.events.clear()  # only what the page itself does counts
            pipe.call("Page.navigate", {"url": url}, session=session)
            if not pipe.wait_for("Page.loadEventFired", timeout):
                raise BrowserError(f"{url} did not finish loading in {timeout:.0f}s")
            pipe.drain(1.0)  # console messages and failed requests can follow the load event
            shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot = base64.b64decode(shot["data"])
            with contextlib.suppress(BrowserError):  # it may close the pipe before answering
                pipe.call("Browser.close")
        finally:
            os.close(commands_write)
            os.close(answers_read)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    console, exceptions, external = _collect(pipe.events)
    return Rendered(console, exceptions, external, screenshot)


def png_size(png: bytes) -> tuple[int, int]:
    """Returns (width, height) from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def distinct_rows(png: bytes) -> int:
    """Counts the distinct (filtered) scanlines of a PNG: a blank page has one or two, a page of text hundreds."""
    position, data = 8, b""
    while position < len(png):
        length = struct.unpack(">I", png[position : position + 4])[0]
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    _, height = png_size(png)
    raw = zlib.decompress(data)
    stride = len(raw) // height
    return len({raw[i * stride : (i + 1) * stride] for i in range(height)})


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
