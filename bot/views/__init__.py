"""Views: everything a person reads, platform-neutral and typed; Slack and Teams render these."""
