"""Where opslayer may send webhooks: never into the networks an operator denies.

An agent names its own `webhook_url`, and opslayer POSTs there from inside your network: without
a rule, a careless or hostile agent could make it call the cloud metadata service or an internal
admin port (server-side request forgery). Link-local and metadata addresses are denied by
default; add private ranges with `OPSLAYER_WEBHOOK_DENY` when agents are not trusted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The unspecified addresses (`0.0.0.0`, `0`, `::`) reach this very host: denied always.
ALWAYS_DENY = ("0.0.0.0/8", "::/128")
# Link-local (cloud metadata lives at 169.254.169.254), AWS's IPv6 metadata, Alibaba's.
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7")


@dataclass(frozen=True, slots=True)
class Egress:
    """The networks webhooks may not reach."""

    deny: tuple[IPNetwork, ...]

    @staticmethod
    def parse(networks: Iterable[str]) -> Egress:
        """CIDRs, plus `default` (link-local and metadata) and `private` (every private and
        loopback range); a typo stops start-up."""
        named = {"default": DEFAULT_DENY, "private": PRIVATE}
        parsed: list[IPNetwork] = [ipaddress.ip_network(n) for n in ALWAYS_DENY]
        for entry in networks:
            for cidr in named.get(entry, (entry,)):
                try:
                    parsed.append(ipaddress.ip_network(cidr, strict=False))
                except ValueError as bad:
                    raise ValueError(
                        f"OPSLAYER_WEBHOOK_DENY: {entry!r} is not a network (e.g. 10.0.0.0/8, "
                        "'default' or 'private')"
                    ) from bad
        return Egress(tuple(parsed))

    def allows_ip(self, address: str | IPAddress) -> bool:
        """False when the address, or an IPv4 address it carries, is in a denied network."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        candidates = [ip, *_embedded_ipv4(ip)]
        return not any(c in network for c in candidates for network in self.deny)

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be called, when its host is an address in a denied network (names
        are checked when they are resolved, at delivery); None when it may."""
        host = urlsplit(url).hostname or ""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        if self.allows_ip(ip):
            return None
        return f"{host} is in a network webhooks may not reach (OPSLAYER_WEBHOOK_DENY)"


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: mapped (::ffff:a.b.c.d), compatible
    (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 and Teredo. Any of them may lead back into
    the IPv4 network it names."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if (ip in _IPV4_COMPATIBLE and int(ip) > 1) or ip in _NAT64:  # :: and ::1 are IPv6's own
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


DEFAULT_EGRESS = Egress.parse(DEFAULT_DENY)
