"""The house rules, checked: arrows point inward (DESIGN §1, STYLE), and the code is imported
only under the `opslayer` namespace (its installed name)."""

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


PACKAGES = ("bot", "store", "scheduler", "adapters")


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _imports(path: Path) -> set[str]:
    """The packages a module imports: `opslayer.store.x` counts as `store`."""
    names = set()
    for module in _modules(path):
        parts = module.split(".")
        names.add(parts[1] if parts[0] == "opslayer" and len(parts) > 1 else parts[0])
    return names


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


def test_code_is_imported_only_under_the_opslayer_namespace() -> None:
    """`import bot` works only inside this checkout; installed, the code is `opslayer.bot`."""
    sources = [
        f
        for folder in (*PACKAGES, "tests", "bench", "examples", "clients")
        for f in (ROOT / folder).rglob("*.py")
    ]
    offenders = {
        str(f.relative_to(ROOT)): sorted(m for m in _modules(f) if m.split(".")[0] in PACKAGES)
        for f in sources
        if any(m.split(".")[0] in PACKAGES for m in _modules(f))
    }
    assert offenders == {}


def test_the_client_imports_nothing_of_the_server() -> None:
    client = list((ROOT / "clients" / "python" / "opslayer_client").rglob("*.py"))
    assert client
    allowed = {"opslayer_client", "httpx", "pydantic", "__future__"}
    stdlib = {"base64", "hashlib", "hmac", "time", "json", "re", "enum", "typing", "datetime"}
    stdlib |= {"collections", "asyncio", "contextlib", "dataclasses", "functools", "logging"}
    stdlib |= {"concurrent", "threading", "inspect", "uuid", "os", "pathlib", "atexit"}
    # Each framework only in its own integration module, behind its extra.
    extras = {"langgraph.py": {"langgraph"}, "openai_agents.py": {"agents"}}
    foreign = {
        str(f.relative_to(ROOT)): sorted(
            n for n in _imports(f) if n not in allowed | stdlib | extras.get(f.name, set())
        )
        for f in client
    }
    assert {k: v for k, v in foreign.items() if v} == {}
