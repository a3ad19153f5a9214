"""The frame of the emulator's console pages: tiny HTML pages for a human, no auth.

Each service renders its own page (``tia.console``, ``tione.console``) inside this frame; the pages are local
developer tools, the targets of the provider's console links.
"""

from __future__ import annotations

from html import escape

LOG_TAIL = 50  # log lines shown at the bottom of a page
_STYLE = "body{font-family:sans-serif;margin:2em}td,th{text-align:left;padding:2px 12px 2px 0}pre{background:#f4f4f4}"


def page(title: str, body: str) -> str:
    """A whole HTML page: ``title`` is escaped here, ``body`` must already be."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
