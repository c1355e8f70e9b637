"""The README and docs/ as a front door: every link resolves, every suite they name exists and validates, every
`ganbench` subcommand they show is one the CLI has."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _text(page: Path) -> str:
    return page.read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _text(page)):
        if target.startswith(("http://", "https://")):
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_suites_named_in_docs_exist_and_validate():
    from ganbench.suite.schema import load_suite

    named = {m for page in PAGES for m in re.findall(r"`(suites/[\w./-]+\.yaml)`", _text(page))}
    assert named, "the docs name no suite"
    for path in sorted(named):
        assert (ROOT / path).is_file(), path
        load_suite(ROOT / path)


def test_subcommands_shown_exist():
    shown = {m for page in PAGES for m in re.findall(r"`ganbench (\w+)", _text(page))}
    out = subprocess.run([sys.executable, "-m", "ganbench.cli", "--help"], capture_output=True, text=True,
                         cwd=ROOT).stdout
    assert shown and all(cmd in out for cmd in shown), (shown, out)


def test_readme_is_a_front_door():
    """The README keeps to the first ten minutes; the reference lives in docs/ and the README links every page."""
    readme = _text(ROOT / "README.md")
    assert len(readme) < 12_000
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"
