"""Approvals: durable requests for a human decision; the agent asks, a person (or the deadline)
decides."""
