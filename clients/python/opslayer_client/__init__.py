"""opslayer's agent SDK: the client for the agent API v1, the wire models, and the check of
the signed commands opslayer sends. It depends on httpx and pydantic only; framework
integrations live in their own modules, each behind its extra."""

from opslayer_client.client import OpslayerClient, OpslayerError, parse_command
from opslayer_client.signing import InvalidSignature, verify

__all__ = ["InvalidSignature", "OpslayerClient", "OpslayerError", "parse_command", "verify"]
__version__ = "0.1.0"
