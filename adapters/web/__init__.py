"""The operator console: server-rendered pages over the same use cases as chat (via=web)."""
