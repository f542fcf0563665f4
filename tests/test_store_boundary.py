"""The write path (``app/store``) stands on its own: the bench and migrations use it without the
worker, so nothing in it imports ``ingest``."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).resolve().parents[1] / "app" / "store"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_write_path_imports_nothing_of_the_worker() -> None:
    files = sorted(STORE.glob("*.py"))
    assert len(files) >= 2  # the package is there, not an empty folder
    offending = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if name == "ingest" or name.startswith("ingest.")
    }
    assert not offending, offending
