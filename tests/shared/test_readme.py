"""The README stays short, and no page sends a reader to a file that is not there.

The README is the front door (what it is, two commands, install, two examples, links); the rest lives
in ``docs/``. A relative link that points at a moved or deleted file is a dead end on every forge and
in the built site, and a link that leaves the repository points at something the reader does not have.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.helpers.support import ROOT

if TYPE_CHECKING:
    from pathlib import Path

README = ROOT / "README.md"
README_MAX_LINES = 150
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links outside code, without their anchors; web and mail links left out."""
    prose = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = (match.group(1) for match in LINK.finditer(prose))
    return [t.split("#", 1)[0] for t in targets if not SCHEME.match(t) and not t.startswith("#")]


def test_readme_is_under_150_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_link_finder_sees_links_and_skips_code_web_and_anchors() -> None:
    markdown = (
        "[a](docs/a.md) [b](b.md#part) [web](https://example.org) [top](#top)\n"
        "`[not](inline.md)`\n```\n[not](fenced.md)\n```\n"
    )
    assert relative_links(markdown) == ["docs/a.md", "b.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_in_the_repository(page: Path) -> None:
    links = relative_links(page.read_text(encoding="utf-8"))
    dead = [link for link in links if not (page.parent / link).exists()]
    outside = [link for link in links if not (page.parent / link).resolve().is_relative_to(ROOT)]
    assert not dead, f"{page.relative_to(ROOT)} links to files that do not exist: {dead}"
    assert not outside, f"{page.relative_to(ROOT)} links outside the repository: {outside}"


def bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, re.DOTALL)


def test_the_readme_and_the_connection_page_create_connections_alike() -> None:
    """The README's connection commands (run as written by the provider tests) are the page's too."""
    page = bash_blocks((ROOT / "docs" / "connection.md").read_text(encoding="utf-8"))
    readme = [b for b in bash_blocks(README.read_text(encoding="utf-8")) if "airflow connections" in b]
    assert readme, "the README shows no `airflow connections` command"
    assert all(block in page for block in readme), "README.md and docs/connection.md differ"


def test_the_readme_links_into_the_docs() -> None:
    links = relative_links(README.read_text(encoding="utf-8"))
    assert {"docs/tione.md", "docs/tia.md", "docs/connection.md"} <= set(links)
