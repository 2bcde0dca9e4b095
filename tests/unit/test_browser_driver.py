"""The headless-browser test tool catches what it must: script errors, console errors, external fetches, blank pages.

The report's render test trusts an empty problem list, so these show that a broken page does not give one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser

pytestmark = pytest.mark.slow

POLICY = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"


def _page(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "page.html"
    path.write_text(f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>")
    return path


@pytest.fixture(scope="module")
def chromium() -> str:
    return browser.require_chromium()


def test_a_script_error_and_a_console_error_are_reported(chromium: str, tmp_path: Path) -> None:
    page = _page(tmp_path, "<h1>x</h1><script>notDefined();</script><script>console.error('broken')</script>")

    rendered = browser.render(page, chromium)

    assert any("notDefined is not defined" in e for e in rendered.exceptions)
    assert any("broken" in e for e in rendered.console_errors)


def test_an_external_image_is_reported(chromium: str, tmp_path: Path) -> None:
    rendered = browser.render(_page(tmp_path, '<img src="http://example.invalid/logo.png">'), chromium)

    assert rendered.external_requests == ["http://example.invalid/logo.png"]


def test_an_external_font_blocked_by_the_policy_is_reported(chromium: str, tmp_path: Path) -> None:
    style = "<style>@font-face{font-family:f;src:url(https://example.invalid/f.woff)} h1{font-family:f}</style>"
    rendered = browser.render(_page(tmp_path, "<h1>text</h1>", POLICY + style), chromium)

    assert any("Content Security Policy" in e for e in rendered.console_errors)


def test_a_clean_page_has_no_problems_and_a_non_blank_screenshot(chromium: str, tmp_path: Path) -> None:
    body = "<h1>Report</h1>" + "".join(f"<p>line {i}</p>" for i in range(30))
    rendered = browser.render(_page(tmp_path, body, POLICY), chromium, width=800, height=900)

    assert rendered.problems == []
    assert browser.png_size(rendered.screenshot) == (800, 900)
    assert browser.distinct_rows(rendered.screenshot) > 20


def test_a_blank_page_reads_as_blank(chromium: str, tmp_path: Path) -> None:
    rendered = browser.render(_page(tmp_path, ""), chromium, width=400, height=300)

    assert browser.distinct_rows(rendered.screenshot) <= 2
