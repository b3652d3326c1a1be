"""Settings, read once from the environment by the entry point (never at import)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from opslayer.bot.views.model import Escalation
from opslayer.scheduler.cron import digest_trigger

# About a day: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h (DESIGN §3).
DEFAULT_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400)


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything opslayer reads from the environment (`OPSLAYER_…` and the platforms' names)."""

    model_config = SettingsConfigDict(env_prefix="OPSLAYER_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./opslayer.db"
    host: str = "127.0.0.1"
    port: int = 8080
    admins: Annotated[list[str], NoDecode] = []
    # Networks webhooks may not reach: CIDRs, `default` (link-local, metadata), `private`.
    webhook_deny: Annotated[list[str], NoDecode] = ["default"]
    scan_interval_s: float = Field(30.0, gt=0)
    webhook_retry_s: Annotated[list[float], NoDecode] = list(DEFAULT_RETRY_SCHEDULE)
    digest_cron: str = "0 9 * * mon-fri"
    timezone: str = "UTC"
    max_body_bytes: int = Field(256 * 1024, gt=0)
    heartbeat_flush_s: float = Field(0.05, gt=0)
    run_cache_ttl_s: float = Field(1.0, ge=0)
    # How long a replica trusts a known token: a revoked token stops working within this.
    token_cache_ttl_s: float = Field(1.0, ge=0)
    # Requests with an unknown token a client may make per second before it gets 429s.
    auth_failures_per_s: float = Field(5.0, gt=0)
    # Per agent (token): requests a second (bursts of twice that), runs not ended, approvals
    # not decided. Beyond them: 429 with the reason, counted in /metrics.
    agent_rate_per_s: float = Field(1000.0, gt=0)
    max_open_runs_per_agent: int = Field(10_000, gt=0)
    max_pending_approvals_per_agent: int = Field(1_000, gt=0)
    delivery_lease_s: float = Field(60.0, gt=0)
    delivery_poll_s: float = Field(1.0, gt=0)
    delivery_timeout_s: float = Field(10.0, gt=0)
    # Seconds between two posts to one chat channel (Slack allows about one a second).
    chat_spacing_s: float = Field(1.0, ge=0)
    admin_slack_channel: str | None = None  # where runs nobody owns are reported
    admin_teams_channel: str | None = None
    log_level: str = "info"
    # Where people reach the console (https://ops.example.com): links in chat messages and
    # sign-in links use it; without it, http://HOST:PORT.
    public_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    session_hours: float = Field(12.0, gt=0)  # how long a console sign-in lasts
    # Ended runs older than this many days are pruned every night (their audit trail stays).
    retention_days: int | None = Field(None, gt=0)

    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = None
    # The slash command's name: `/agent` collides in many workspaces.
    slack_command: str = Field("/agent", pattern=r"^/[a-z0-9_-]{1,31}$")

    microsoft_app_id: str | None = Field(
        None, validation_alias=AliasChoices("MicrosoftAppId", "MICROSOFT_APP_ID")
    )
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_type: str = Field(
        "MultiTenant", validation_alias=AliasChoices("MicrosoftAppType", "MICROSOFT_APP_TYPE")
    )
    microsoft_app_tenant_id: str | None = Field(
        None, validation_alias=AliasChoices("MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID")
    )
    teams_dev: bool = False

    _split_admins = field_validator("admins", "webhook_deny", mode="before")(_csv)

    @model_validator(mode="after")
    def _digest_time_comes(self) -> Settings:
        try:
            digest_trigger(self.digest_cron, timezone=self.timezone)
        except (ValueError, LookupError) as wrong:  # a typo, a date that never comes, a zone
            raise ValueError(f"OPSLAYER_DIGEST_CRON / OPSLAYER_TIMEZONE: {wrong}") from wrong
        return self

    @field_validator("webhook_retry_s", mode="before")
    @classmethod
    def _retry_schedule(cls, value: object) -> object:
        parts = _csv(value)
        if isinstance(parts, list) and not parts:
            raise ValueError("the retry schedule needs at least one delay, e.g. 0,5,300")
        return parts

    @property
    def admins_target(self) -> Escalation:
        """Where alerts about unowned runs (and escalations without a group) go."""
        return {"slack": self.admin_slack_channel, "teams": self.admin_teams_channel}

    @property
    def base_url(self) -> str:
        """The console's address, for links: OPSLAYER_PUBLIC_URL, else where it listens."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def slack_enabled(self) -> bool:
        """Slack is on when a bot token and either a signing secret or an app token are set."""
        return self.slack_bot_token is not None and (
            self.slack_signing_secret is not None or self.slack_app_token is not None
        )

    @property
    def teams_enabled(self) -> bool:
        """Teams is on when an app id is set, or in dev mode."""
        return self.microsoft_app_id is not None or self.teams_dev
