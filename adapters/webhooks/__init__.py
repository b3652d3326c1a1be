"""Signed, retried delivery of commands to agents' webhooks (Standard Webhooks)."""
