"""How the dashboard renders a page: autoescaped templates, and the headers every page
carries (a Content-Security-Policy that allows no script and no framing at all)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from target_khaos_control.rules import RuleSet, RuleSetError, load_ruleset

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATES = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"], default_for_string=True, default=True)
)
# The one inline style sheet is allowed by its hash; nothing else is allowed at all. Forms
# post only to the dashboard itself.
_STYLE = re.search(r"<style>(.*?)</style>", (TEMPLATE_DIR / "base.html").read_text(), re.DOTALL)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.group(1).encode() if _STYLE else b"").digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TICKS = re.compile(r"`([^`\n]+)`")


def ticks(text: Any) -> Markup:
    """Text with its `backticked` names as code, everything else escaped."""
    parts = _TICKS.split(str(text))  # odd places: what stood between backticks
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if place % 2 else escape(part) for place, part in enumerate(parts)
    )


TEMPLATES.filters["ticks"] = ticks


def page(template: str, title: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """One page of the dashboard."""
    return HTMLResponse(TEMPLATES.get_template(template).render(title=title, **values), status_code=status_code)


def refused(detail: str, status_code: int = 400) -> HTMLResponse:
    """A request the dashboard cannot do, and why."""
    return page("error.html", "Not possible", status_code=status_code, detail=detail)


def client_rules(rules_path: str) -> RuleSet | None:
    """The client's rule set for what a page adds from it (site names, tax rates); None when
    none is set or it does not load: the page shows what it can without it."""
    if not rules_path:
        return None
    try:
        return load_ruleset(rules_path)
    except RuleSetError:
        return None
