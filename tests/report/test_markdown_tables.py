"""Every committed Markdown table renders: each row has as many columns as its header (a group metric's
``|`` is escaped)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "leaderboard").glob("*.md")) + sorted((ROOT / "docs").rglob("*.md"))


def columns(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_row_has_its_headers_column_count(path):
    header = None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = columns(line)
            continue
        assert columns(line) == header, f"{path.name}:{n}: {columns(line)} columns, header has {header}"
