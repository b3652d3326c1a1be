"""Agent text never reaches a terminal or a log raw: escapes, NUL and newlines are shown as
their escapes in `opslayer runs list|show` and in every log line, so a title cannot clear the
screen or forge a row."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from opslayer.adapters.app import create_app
from opslayer.adapters.chat.log import LogNotifier
from opslayer.adapters.cli import main
from opslayer.adapters.settings import Settings
from opslayer.adapters.terminal import EscapingFormatter, printable
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.people.tokens import mint_token
from opslayer.bot.views.alerts import alert_view
from tests.bot.factories import T0, make_run

FORGED = "ok\x1b[2J\x1b[H\nrun_forged  billing-bot  succeeded  ok\r\u202eevil"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text · ünïcode", "plain text · ünïcode"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("nul\x00", "nul\\x00"),
        ("c1\x9b", "c1\\x9b"),
        ("\u202eabc\u2066", "\\u202eabc\\u2066"),
        ("line\u2028sep", "line\\u2028sep"),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown


async def test_runs_list_and_show_print_agent_text_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("OPSLAYER_DATABASE_URL", url)
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "billing-bot")
        auth = {"Authorization": f"Bearer {minted.token}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            body = {"external_id": "e", "title": FORGED, "owner": {"email": "a@x.io"}}
            run = (await client.post("/v1/runs", json=body, headers=auth)).json()
            beat = {"step": "s\x1b[2K", "message": "m\nINFO: forged"}
            await client.post(f"/v1/runs/{run['id']}/heartbeat", json=beat, headers=auth)
            await client.post(
                f"/v1/runs/{run['id']}/status",
                json={"status": "failed", "error": "boom\x1b]0;title\x07"},
                headers=auth,
            )
    for argv in (["runs", "list"], ["runs", "show", run["id"]]):
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
        assert "run_forged" in out and "\\x1b[2J" in out  # shown, escaped, on the run's row
        assert not any(line.startswith("run_forged") for line in out.splitlines())


async def test_log_lines_carry_agent_text_escaped(caplog: pytest.LogCaptureFixture) -> None:
    run = make_run(title=FORGED)
    view = alert_view(AlertKind.STUCK, run, now=T0)
    with caplog.at_level(logging.INFO, logger="opslayer.alerts"):
        await LogNotifier().post({"slack": "C1"}, view)
    [record] = caplog.records
    assert "\x1b" not in record.getMessage() and "\n" not in record.getMessage()
    # And any log line at all, through the handler `opslayer serve` installs:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "title %s", (FORGED,), None)
    line = EscapingFormatter("%(levelname)s: %(message)s").format(record)
    assert line.count("\n") == 0 and "\x1b" not in line and "\\nrun_forged" in line
