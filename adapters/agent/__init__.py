"""The agent side of opslayer: a small client for the agent API and command verification.

Imports only httpx, pydantic and opslayer's API models, so an agent needs nothing of the
server (`pip install opslayer`, without the `server` extra).
"""

from adapters.agent.client import OpslayerClient, OpslayerError, parse_command

__all__ = ["OpslayerClient", "OpslayerError", "parse_command"]
