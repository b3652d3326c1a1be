"""Runs: the model, the transition table, health (pure), the agent's writes, reads, and the
replica's cache of recent runs and unwritten heartbeats."""
