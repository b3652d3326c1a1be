"""Slack: Bolt for the clicks and `/agent`, Block Kit for what people see."""
