"""The house rule, checked: arrows point inward (DESIGN §1, STYLE)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "bot": {
        "adapters",
        "store",
        "scheduler",
        "fastapi",
        "starlette",
        "sqlalchemy",
        "slack_bolt",
        "slack_sdk",
        "botbuilder",
        "apscheduler",
        "httpx",
        "aiohttp",
        "uvicorn",
    },
    "store": {"adapters", "scheduler", "fastapi", "slack_bolt", "botbuilder", "apscheduler"},
    "scheduler": {"adapters", "fastapi", "slack_bolt", "botbuilder"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_inward(package: str) -> None:
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(_imports(f) & FORBIDDEN[package])
        for f in files
        if _imports(f) & FORBIDDEN[package]
    }
    assert offenders == {}
