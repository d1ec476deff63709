"""Writing a benchmark's section of docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path


def replace_section(path: Path, heading: str, section: str) -> None:
    """Replace the section that starts with `heading` (e.g. "## Tracing overhead") up to the next heading of the
    same or a higher level, or append it; other sections, and subsections of other sections, stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    level = len(heading) - len(heading.lstrip("#"))
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = len(text)
        for depth in range(1, level + 1):
            found = text.find("\n" + "#" * depth + " ", start + len(heading))
            if found >= 0:
                end = min(end, found + 1)
        text = text[:start] + section + text[end:]
    path.write_text(text if text.endswith("\n") else text + "\n")


def report(section: str, path: Path, heading: str, *, write: bool) -> None:
    """Print a benchmark's section; with `write`, also put it in `path` under `heading` (see replace_section)."""
    print(section)
    if write:
        replace_section(path, heading, section)
        print(f"wrote {path}", file=sys.stderr)
