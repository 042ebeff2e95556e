"""The documentation's links: every relative link names a file that exists, and every
``#anchor`` names a heading of its target (GitHub's heading slugs). The results tables live
in docs/results.md and the README points into them, so a renamed heading must fail here."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, outside fenced code blocks."""
    return set(unique_slugs(page.read_text()))


def unique_slugs(markdown: str) -> list[str]:
    """The headings' anchors in order; a repeated slug gets GitHub's ``-1``, ``-2``... suffix."""
    found, seen, fenced = [], set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            base = anchor = slug(line)
            n = 0
            while anchor in seen:
                n += 1
                anchor = f"{base}-{n}"
            seen.add(anchor)
            found.append(anchor)
    return found


def test_slug_follows_github():
    assert slug("### GAZSL's pivot on fresh fakes (`gazsl.pivot_samples`)") == (
        "gazsls-pivot-on-fresh-fakes-gazslpivot_samples"
    )
    assert slug("## What is different here: nothing is selected on test data") == (
        "what-is-different-here-nothing-is-selected-on-test-data"
    )


def test_repeated_headings_get_numbered_anchors():
    page = "# Results\n```bash\n# not a heading\n```\n## Seeds\n### Seeds\n## Seeds\n"
    assert unique_slugs(page) == ["results", "seeds", "seeds-1", "seeds-2"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
