"""The reports' HTML: Jinja2 templates (templates/, shipped as package data) rendered with autoescaping.

Every page is one self-contained file: CSS and SVG inline, no script, and a Content-Security-Policy
that forbids every fetch, so it opens the same offline, attached to a review, or in a locked-down browser.
"""

from __future__ import annotations

import contextlib
import functools
import math
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"

# The browser itself enforces that the page loads nothing: no scripts, no fonts, no remote images.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

PILL_CLASSES = {
    "executed": "ok",
    "cached": "muted",
    "resolved": "muted",
    "failed": "bad",
    "ok": "ok",
    "passed": "ok",
    "blessed": "ok",
    "not blessed": "bad",
    "OVER LIMIT": "bad",
    "failed threshold": "bad",
    "stop": "bad",
    "warn": "warn",
    "not applied": "muted",
    "no limit": "muted",
    "not measured": "muted",
}


def number(value: float | None, digits: int = 4) -> str:
    """Formats a float with fixed decimals, integers without; "-" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) >= 1 and digits > 0 and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def pill_class(text: str) -> str:
    """The colour class of a status word."""
    return PILL_CLASSES.get(text, "muted")


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's compiled templates kept between commands (in its per-user temp folder, never the home):
    compiling the report's templates took a third of `report`. A cache that cannot be written is skipped."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> jinja2.BytecodeCache | None:
    try:
        return _TemplateCache()
    except (OSError, RuntimeError):  # no usable temp folder (Jinja refuses one another user owns)
        return None


@functools.cache
def environment() -> jinja2.Environment:
    """The one template environment: autoescaping on, undefined names an error, blocks trimmed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=_template_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    env.filters["pill_class"] = pill_class
    env.globals["CONTENT_SECURITY_POLICY"] = CONTENT_SECURITY_POLICY
    return env


def render(template: str, **context: Any) -> str:
    """Renders one of the templates with its context; every value is escaped unless a template says otherwise."""
    return environment().get_template(template).render(**context)
