"""Binding the port before the app starts, so "opslayer is up" is only said when it is, and a
busy port is one clear line (serve and the demo alike)."""

from __future__ import annotations

import socket


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv4 or IPv6, as the host is written)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    listening.set_inheritable(True)
    return listening


def cannot_listen(host: str, port: int, why: OSError) -> str:
    """What to print when the port is taken (or the address is not this host's)."""
    return (
        f"cannot listen on {host}:{port}: {why.strerror or why}. Another process may hold it:"
        " stop it, or choose a port with --port or OPSLAYER_PORT."
    )
