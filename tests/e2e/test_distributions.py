"""The two distributions, installed for real into fresh virtual environments (not editable):
the agent SDK pulls in nothing of the server; the server installs whole and works; and outside
this checkout neither installs a generic top-level name such as `bot`."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {
    "fastapi",
    "starlette",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "slack-bolt",
    "slack-sdk",
    "botbuilder-core",
    "apscheduler",
    "uvicorn",
    "pydantic-settings",
    "aiohttp",
    "opslayer",
}
GENERIC = ("bot", "store", "scheduler", "adapters")


def _venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin"


def _run(*argv: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _installed(bin_dir: Path, cwd: Path) -> set[str]:
    listing = json.loads(_run(bin_dir / "pip", "list", "--format", "json", cwd=cwd))
    return {d["name"].lower().replace("_", "-") for d in listing}


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout, so nothing is imported from the repository by accident."""
    return tmp_path_factory.mktemp("outside")


def test_the_client_installs_alone_with_nothing_of_the_server(elsewhere: Path) -> None:
    bin_dir = _venv(elsewhere / "client-venv")
    _run(bin_dir / "pip", "install", "--quiet", ROOT / "clients" / "python", cwd=elsewhere)
    assert _installed(bin_dir, elsewhere) & SERVER_ONLY == set()
    probe = (
        "import json, sys, opslayer_client, opslayer_client.contract; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(_run(bin_dir / "python", "-c", probe, cwd=elsewhere)))
    assert loaded & {"fastapi", "sqlalchemy", "opslayer", *GENERIC} == set()
    for name in GENERIC:
        probe = (
            f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
        )
        _run(bin_dir / "python", "-c", probe, cwd=elsewhere)


def test_the_server_installs_whole_and_only_under_its_namespace(elsewhere: Path) -> None:
    bin_dir = _venv(elsewhere / "server-venv")
    _run(
        bin_dir / "pip",
        "install",
        "--quiet",
        ROOT / "clients" / "python",
        ROOT,
        cwd=elsewhere,
    )
    assert {"opslayer", "opslayer-client", "pydantic-settings"} <= _installed(bin_dir, elsewhere)
    _run(bin_dir / "python", "-c", "import opslayer.adapters.app, opslayer.bot", cwd=elsewhere)
    for name in GENERIC:
        probe = (
            f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
        )
        _run(bin_dir / "python", "-c", probe, cwd=elsewhere)
    # The migrations ship with it: a fresh database is created and migrated.
    env_url = f"sqlite+aiosqlite:///{elsewhere / 'installed.db'}"
    done = subprocess.run(
        [str(bin_dir / "opslayer"), "db", "upgrade"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        env={"OPSLAYER_DATABASE_URL": env_url, "PATH": str(bin_dir)},
    )
    assert done.returncode == 0 and "revision" in done.stdout, done.stderr
