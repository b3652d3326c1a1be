"""The schema, as SQLAlchemy Core tables; migrations are generated from and checked against it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

RUN_FLAGGED = text("CAST(health AS VARCHAR(500)) != '[]'")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (sortable the same way on SQLite and PostgreSQL), loads aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


agents = Table(
    "agents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("webhook_secret", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # After `token rotate`, the old secret signs too (a second v1 signature) until this moment.
    Column("previous_webhook_secret", String(100)),
    Column("previous_secret_until", UTCDateTime()),
)

agent_tokens = Table(
    "agent_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", String(40), ForeignKey("agents.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),  # at most a minute behind: written once a minute
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("slack_channel", String(200)),
    Column("teams_channel", String(400)),
    Column("slack_escalation_channel", String(200)),
    Column("teams_escalation_channel", String(400)),
    Column("digest_cron", String(100)),  # this group's own digest time, else the default
    Column("all_clear", Boolean, nullable=False, default=False),  # post empty digests too
)

people = Table(
    "people",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("email", String(320), unique=True),
    Column("slack_user_id", String(200), unique=True),
    Column("teams_user_id", String(200), unique=True),
    Column("group_id", String(40), ForeignKey("groups.id")),
    Column("slack_channel", String(200)),  # the person's own alert channel, before the group's
    Column("teams_channel", String(400)),
    Column("removed_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    # member (the default), admin (every right, like OPSLAYER_ADMINS) or viewer (sees all, acts
    # on nothing).
    Column("role", String(16), nullable=False, server_default="member"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("agent_id", String(40), ForeignKey("agents.id"), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("title", String(500), nullable=False),
    Column("status", String(32), nullable=False),
    Column("owner_id", String(40), ForeignKey("people.id"), nullable=False),
    Column("pending_owner_id", String(40), ForeignKey("people.id")),  # a handoff not yet accepted
    Column("handoff_until", UTCDateTime()),
    Column("channel_slack", String(200)),
    Column("channel_teams", String(400)),
    Column("webhook_url", String(2000)),
    Column("policy", JSON, nullable=False),
    Column("thread_id", String(200)),
    Column("labels", JSON, nullable=False),
    Column("step", String(500)),
    Column("progress", Float),
    Column("message", Text),
    Column("reason", Text),
    Column("error", Text),
    Column("attempt", Integer, nullable=False, default=1),
    Column("last_heartbeat_at", UTCDateTime()),
    Column("auth_expires_at", UTCDateTime()),
    Column("decided_at", UTCDateTime()),  # a decision went to the agent; the run has not moved
    Column("health", JSON, nullable=False),
    Column("next_check_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("status_changed_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # What the agent said about the owner ({email, slack_user_id, teams_user_id, name,
    # unverified}): routes messages, never grants rights.
    Column("owner_claim", JSON),
    UniqueConstraint("agent_id", "external_id"),
    Index("ix_runs_next_check_at", "next_check_at"),
    # Newest first per agent, status, owner and pending owner: a filtered keyset page walks
    # only what it shows (migration 0010). And an agent's runs counted by status.
    Index("ix_runs_agent_latest", "agent_id", "id"),
    Index("ix_runs_status_latest", "status", "id"),
    Index("ix_runs_owner_latest", "owner_id", "id"),
    Index(
        "ix_runs_pending_owner",
        "pending_owner_id",
        "id",
        sqlite_where=text("pending_owner_id IS NOT NULL"),
        postgresql_where=text("pending_owner_id IS NOT NULL"),
    ),
    Index("ix_runs_agent_status", "agent_id", "status"),
    # The runs with a health flag (store/runs.py: FLAGGED asks with this very condition).
    Index("ix_runs_flagged", "id", sqlite_where=RUN_FLAGGED, postgresql_where=RUN_FLAGGED),
)

memory_refs = Table(
    "memory_refs",
    metadata,
    Column("run_id", String(40), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("checkpoint_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("step", String(500), nullable=False),
    Column("summary", Text),
    Column("resumable", Boolean, nullable=False),
    # [{key, description, idempotent}]: what the agent did to the world since the previous one.
    Column("side_effects", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("run_id", "checkpoint_id"),
    UniqueConstraint("run_id", "seq"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False, index=True),
    Column("request_id", String(200), nullable=False),
    Column("title", String(500), nullable=False),
    Column("details", Text),
    Column("status", String(16), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("approvers", JSON, nullable=False),
    Column("state", JSON),
    Column("decided_by", String(40)),
    Column("decided_at", UTCDateTime()),
    Column("comment", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("action", String(100)),  # what is asked, by machine name; rules match on it
    Column("arguments", JSON),
    Column("arguments_schema", JSON),
    Column("decisions", JSON, nullable=False),  # ["approve", "edit", "reject", "respond"]
    Column("required_approvals", Integer, nullable=False, default=1),
    Column("on_timeout", String(16), nullable=False, default="expire"),
    Column("risk", String(16)),
    Column("votes", JSON, nullable=False),  # [{person_id, name, at, via, type, arguments?}]
    Column("decision", JSON),  # {type, by: {id, name, via}, at, arguments?, message?}
    UniqueConstraint("run_id", "request_id"),
    Index("ix_approvals_pending_deadline", "status", "expires_at"),
)

approval_rules = Table(
    "approval_rules",
    metadata,
    # Which approvals need a human at all: per agent (or *) and action glob.
    Column("id", String(40), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("action", String(100), nullable=False),  # a glob: send_*, payments.refund, *
    Column("decide", String(16), nullable=False),  # approve, reject, ask
    Column("approvers", JSON, nullable=False),
    Column("required_approvals", Integer),
    Column("created_by", String(240), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime()),
)

commands = Table(
    "commands",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime()),
    Column("claimed_until", UTCDateTime()),  # a deliverer's lease; expires if it dies mid-way
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("acked_at", UTCDateTime()),
    Column("result_message", Text),
    # While the command is open (pending or delivered): its idempotency key; NULL once it
    # settles. Unique, so the same request twice (a double click) issues one command.
    Column("open_key", String(400), unique=True),
    Index("ix_commands_next_attempt_at", "next_attempt_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    # Every attempt to deliver a command, with what the agent's webhook answered: the run page
    # shows them, and an agent's delivery health is read from them.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command_id", String(40), nullable=False),
    Column("run_id", String(40), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("status_code", Integer),  # the HTTP status, when an answer came
    Column("error", Text),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor_id", String(240), nullable=False),
    Column("actor_name", String(500), nullable=False),
    Column("via", String(16), nullable=False),
    Column("reason", Text),
    Column("detail", JSON, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    # run + finding + episode (or channel + date for digests): one alert per key, ever.
    Column("key", String(400), nullable=False, unique=True),
    Column("run_id", String(40), index=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("target", JSON, nullable=False),  # {"slack": channel, "teams": conversation, ...}
    Column("payload", JSON, nullable=False),  # the platform-neutral view, as last rendered
    # Per surface, where the message lives, and (`<surface>:pings`) how many follow-ups it sent.
    Column("message_refs", JSON, nullable=False),
    Column("reminders", Integer, nullable=False, default=0),
    Column("next_action_at", UTCDateTime()),  # next reminder or escalation
    Column("acked_by", String(40)),
    Column("acked_until", UTCDateTime()),
    Column("escalated_at", UTCDateTime()),
    Column("needs_sync", Boolean, nullable=False),  # the chat surfaces are behind this row
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Index("ix_alerts_next_action_at", "next_action_at"),
    Index("ix_alerts_needs_sync", "needs_sync"),
)

conversations = Table(
    "conversations",
    metadata,
    # Where a chat surface can reach someone proactively (Teams: a serialised conversation
    # reference), remembered on install and on every message.
    Column("surface", String(16), primary_key=True),
    Column("conversation_id", String(400), primary_key=True),
    Column("kind", String(32), nullable=False),  # personal, channel, groupChat
    Column("user_id", String(200)),  # whose personal chat this is (Teams: AAD object id)
    Column("title", String(500)),  # the team and channel (or chat) name, when Teams gave it
    Column("reference", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_conversations_user", "surface", "user_id"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", UTCDateTime(), nullable=False),
)

seen_requests = Table(
    "seen_requests",
    metadata,
    # Signed requests acted on (a Slack signature, a Teams activity id), remembered for as long
    # as their signature is accepted, so a replay is refused on every replica.
    Column("key", String(128), primary_key=True),
    Column("seen_at", UTCDateTime(), nullable=False, index=True),
)


sign_in_links = Table(
    "sign_in_links",
    metadata,
    # One-time links into the console (`opslayer login-link`, `/agent login`, the first admin's
    # set-up link), stored only as hashes; a person id of NULL is the set-up link.
    Column("token_hash", String(64), primary_key=True),
    Column("person_id", String(40), ForeignKey("people.id")),
    Column("purpose", String(16), nullable=False),  # login, setup
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # A signed-in browser: the cookie's hash, whose person, and the CSRF token its forms carry.
    Column("token_hash", String(64), primary_key=True),
    Column("person_id", String(40), ForeignKey("people.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
)
