"""Where a request comes from: the one answer every record, email and throttle uses.

A forwarded header is believed only from a proxy the site named: anyone can send
``X-Forwarded-For``, so trusting it by default would let an attacker pick a fresh address
for every guess and write any address into the audit trail.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from rupt_guard.conf import guard_settings


def client_ip(request: Any) -> str | None:
    """The client's address by ``RUPT_GUARD["CLIENT_IP"]``, normalised, or None."""
    if request is None:
        return None
    return clean_ip(guard_settings.CLIENT_IP(request))


def clean_ip(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def limit_key(address: str) -> str:
    """What a per-address limit counts by: the address, or for IPv6 its /64 (one host
    usually holds a whole /64, and could take a fresh address for every attempt)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address


def remote_addr(request: Any) -> str | None:
    """The default: the peer of the connection, which no header can change."""
    address: str | None = request.META.get("REMOTE_ADDR")
    return address


def forwarded_for(request: Any) -> str | None:
    """``X-Forwarded-For`` read from the right, skipping ``TRUSTED_PROXIES`` only.

    Each trusted proxy appends the address it saw; the first address from the right that is
    not one of ours is the client. Entries left of it may be forged and are never read.
    """
    proxies = guard_settings.TRUSTED_PROXIES
    peer = clean_ip(request.META.get("REMOTE_ADDR"))
    if peer is None or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        address = clean_ip(hop)
        if address is None:
            return peer  # garbage in the chain: fall back to what we know
        if not _is_trusted(address, proxies):
            return address
    return peer


def _is_trusted(address: str, proxies: tuple[Any, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == network.version and ip in network for network in proxies)


USER_AGENT_LENGTH = 512  # LoginCheck.user_agent and Device.last_user_agent


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in came from, cleaned so that no browser input can fail a write."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest | None) -> ClientInfo:
        if request is None:
            return cls()
        return cls(
            ip=stored_address(client_ip(request)),
            user_agent=clean_user_agent(request.META.get("HTTP_USER_AGENT")),
        )


def stored_address(address: str | None) -> str | None:
    """An address as it may be kept (``IP_ADDRESSES``): whole, its network only (IPv4 /24,
    IPv6 /48: the provider's area, not the subscriber) or nothing. Every record takes its
    address from here; limits and ``PLACE_FOR_IP`` read the request's own."""
    mode = guard_settings.IP_ADDRESSES
    if address is None or mode == "full":
        return address
    if mode == "none":
        return None
    prefix = 24 if ipaddress.ip_address(address).version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def clean_user_agent(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    # NUL bytes are refused by PostgreSQL text columns.
    return value.replace("\x00", "")[:USER_AGENT_LENGTH]
