from __future__ import annotations

from pathlib import Path

from distillguard.benchmarks.docs import replace_section


def test_a_section_is_replaced_up_to_the_next_heading_of_its_level(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## A\nold a\n### A detail\nold detail\n## B\nkeep b\n### B notes\nkeep\n")
    replace_section(doc, "## A", "## A\nnew a\n")
    assert doc.read_text() == "# Benchmarks\n\n## A\nnew a\n## B\nkeep b\n### B notes\nkeep\n"
    replace_section(doc, "## B", "## B\nnew b\n")
    assert doc.read_text() == "# Benchmarks\n\n## A\nnew a\n## B\nnew b\n"
    replace_section(doc, "## C", "## C\nc\n")
    assert doc.read_text().endswith("## B\nnew b\n\n## C\nc\n")
