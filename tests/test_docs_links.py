"""Every relative link in README.md, BENCHMARKS.md and docs/ points at a file that exists (and, with an anchor,
at a heading that exists), so the manual cannot quietly rot when pages move."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `](target)` or `](target "title")`; images use the same syntax and are checked the same way.
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_EXTERNAL = ("http://", "https://", "mailto:")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with their 1-based numbers: links inside code are examples, not links."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def extract_links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link or image outside code."""
    found = []
    for number, line in _prose_lines(text):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def is_local(target: str) -> bool:
    return not target.lower().startswith(_EXTERNAL)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens, and
    `-1`, `-2`, ... for repeats."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose_lines(text):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(page: Path) -> list[str]:
    """One message per relative link of `page` that does not resolve, naming the file, line and link."""
    problems = []
    for number, target in extract_links(page.read_text(encoding="utf-8")):
        if not is_local(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(ROOT)}:{number}: link ({target})"
        if not resolved.exists():
            problems.append(f"{where}: no file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text("utf-8")):
            problems.append(f"{where}: no heading with anchor #{anchor} in {resolved.relative_to(ROOT)}")
    return problems


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_link_extractor_on_a_small_page() -> None:
    text = (
        "# Title\n"
        'See [the API](docs/api.md#post-score) and ![curve](docs/images/c.png "the curve").\n'
        "Not links: `[x](inline.md)` and\n"
        "```\n[y](in-code.md)\n```\n"
        "[web](https://example.com) [mail](mailto:a@b.c) [self](#title)\n"
    )
    assert extract_links(text) == [
        (2, "docs/api.md#post-score"),
        (2, "docs/images/c.png"),
        (7, "https://example.com"),
        (7, "mailto:a@b.c"),
        (7, "#title"),
    ]
    assert [t for _, t in extract_links(text) if is_local(t)] == [
        "docs/api.md#post-score",
        "docs/images/c.png",
        "#title",
    ]


def test_heading_anchors_follow_github() -> None:
    text = (
        "# `leadrank simulate` at scale\n## Knapsack: gap, and monotonicity\n"
        "## Notes\n## Notes\n```\n# not a heading\n```\n"
    )
    assert heading_anchors(text) == {"leadrank-simulate-at-scale", "knapsack-gap-and-monotonicity", "notes", "notes-1"}


def test_a_broken_link_is_reported_with_file_and_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "there.md").write_text("# Here\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#here) [gone](missing.md) [bad anchor](there.md#nowhere)\n", encoding="utf-8")
    problems = broken_links(page)
    assert len(problems) == 2
    assert problems[0].startswith("page.md:1: link (missing.md): no file ")
    assert problems[1] == "page.md:1: link (there.md#nowhere): no heading with anchor #nowhere in there.md"


def test_the_pages_exist_and_have_links() -> None:
    pages = doc_pages()
    assert all(page.is_file() for page in pages[:2])
    assert len(pages) > 5, "docs/ should hold the manual"
    assert sum(len(extract_links(page.read_text(encoding="utf-8"))) for page in pages) > 20


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_docs_files_named_in_code_exist() -> None:
    """Help texts and docstrings that send the reader to docs/ must name a page that exists."""
    packages = [d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "tests"]
    named: set[str] = set()
    for source in (source for package in packages for source in package.rglob("*.py")):
        named.update(re.findall(r"\bdocs/[\w./-]+\.md\b", source.read_text(encoding="utf-8")))
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing, f"docs pages named in the code but missing: {missing}"
