"""People and groups are checked when they are written, can be changed and removed (audited),
and a bad value stored before the checks existed never stops `opslayer serve`."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import update

from opslayer.adapters.app import create_app
from opslayer.adapters.settings import Settings
from opslayer.store.engine import create_engine
from opslayer.store.tables import groups
from tests.cli_support import in_thread, run_cli


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["groups", "add", "ops2", "--digest-cron", "every day"], "is not a crontab line"),
        (["groups", "add", "ops2", "--digest-cron", "0 25 * * *"], "is not a crontab line"),
        (["groups", "add", "ops2", "--digest-cron", "0 9 31 2 *"], "never comes"),
        (["groups", "add", "#payments"], "is not a group name"),
        (["groups", "add", "ops", "--slack-channel", "#ops"], "not the #name"),
        (["groups", "add", "ops", "--teams-channel", "ops channel"], "Teams conversation id"),
        (["people", "add", "--email", "bob"], "is not an email address"),
        (["people", "add", "--email", "bob@x.io", "--slack", "@bob"], "not the @handle"),
        (["people", "add", "--teams", "bob@x.io"], "Microsoft Entra object id"),
        (["people", "add", "--email", "bob@x.io", "--slack-channel", "#b"], "Slack channel id"),
    ],
)
def test_what_would_break_later_is_refused_now_with_the_fix(
    cli_db: str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 1 and says in err, err
    assert run_cli(capsys, "groups", "list")[1].count("\n") <= 2  # nothing was stored


def test_people_and_groups_are_changed_and_removed_with_an_audit_trail(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "groups", "add", "ops", "--digest-cron", "0 9 * * mon-fri")[0] == 0
    assert run_cli(capsys, "people", "add", "--email", "bob@x.io", "--group", "ops")[0] == 0
    assert run_cli(capsys, "people", "add", "--email", "carol@x.io", "--slack", "U0CAROL")[0] == 0
    code, _, err = run_cli(capsys, "people", "update", "bob@x.io", "--slack", "U0CAROL")
    assert code == 1 and "slack_user_id belongs to someone else" in err
    code, _, err = run_cli(capsys, "groups", "update", "ops", "--digest-cron", "often")
    assert code == 1 and "is not a crontab line" in err
    assert (
        run_cli(capsys, "people", "update", "bob@x.io", "--name", "Bob", "--slack", "U0BOB")[0] == 0
    )
    assert run_cli(capsys, "people", "update", "bob@x.io", "--group", "")[0] == 0
    assert run_cli(capsys, "groups", "update", "ops", "--digest-cron", "0 8 * * *")[0] == 0
    listed = run_cli(capsys, "people", "list")[1]
    bob = next(line for line in listed.splitlines() if "bob@x.io" in line)
    assert "Bob" in bob and "U0BOB" in bob and " ops " not in bob
    assert "0 8 * * *" in run_cli(capsys, "groups", "list")[1]
    code, out, _ = run_cli(capsys, "groups", "remove", "ops")
    assert code == 0 and "0 member(s)" in out
    code, out, _ = run_cli(capsys, "people", "remove", "carol@x.io")
    assert code == 0 and "can no longer act" in out
    assert run_cli(capsys, "people", "update", "nobody@x.io", "--name", "N")[0] == 1
    assert run_cli(capsys, "people", "update", "bob@x.io")[0] == 2  # nothing asked


async def test_a_bad_digest_time_stored_earlier_is_logged_and_skipped_at_start(
    cli_db: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    added = await in_thread(run_cli, capsys, "groups", "add", "ops2", "--digest-cron", "0 9 * * *")
    assert added[0] == 0
    engine = create_engine(cli_db)
    async with engine.begin() as conn:  # as an older opslayer let it be written
        await conn.execute(update(groups).values(digest_cron="every day"))
    await engine.dispose()
    app = create_app(Settings(database_url=cli_db))
    with caplog.at_level(logging.ERROR, logger="opslayer.scheduler"):
        async with app.router.lifespan_context(app):
            jobs = {job.id for job in app.state.scheduler.get_jobs()}
    assert "digest" in jobs and "digest:ops2" not in jobs  # the group gets the default digest
    [line] = [r.getMessage() for r in caplog.records if "ops2" in r.getMessage()]
    assert "opslayer groups update ops2 --digest-cron" in line


def test_a_default_digest_time_that_never_comes_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: OPSLAYER_DIGEST_CRON='0 9 31 2 *' (no 31 February) was accepted: no digest, ever."""
    monkeypatch.setenv("OPSLAYER_DIGEST_CRON", "0 9 31 2 *")
    code, _, err = run_cli(capsys, "runs", "list")
    assert code == 2 and "never comes" in err and "Traceback" not in err
