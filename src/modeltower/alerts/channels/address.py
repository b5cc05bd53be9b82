"""Where notifications may go: ``serve --forbid-private-webhooks`` refuses channel URLs whose
host is or resolves to a private, loopback, link-local, multicast, reserved or unspecified
address, so that whoever may define a channel cannot make the server POST into its own network
(cloud metadata at 169.254.169.254, an admin port on 127.0.0.1, ...).

The host is checked when a channel is defined (rules file at start, ``PUT
/v1/alerts/channels/{name}``) and again before every delivery, since what a name resolves to can
change. What is left: the HTTP client resolves the name once more when it connects, so a DNS
server answering differently within that moment (rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from modeltower.alerts.channels.base import Channel, ChannelError, parse_channel

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def forbidden(ip: Address) -> bool:
    """Whether ``ip`` is not a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refusal(host: str, addresses: Iterable[str]) -> str | None:
    for text in addresses:
        ip = _literal(text.split("%", 1)[0])
        if ip is not None and forbidden(ip):
            shown = "" if text == host else f" resolves to {text}, which"
            return (
                f"host {host!r}{shown} is a private, loopback, link-local, multicast or "
                "unspecified address (forbid_private_webhooks)"
            )
    return None


class AddressPolicy:
    """Refuses channel URLs that point into private networks."""

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be used, or None (names that do not resolve pass: sending to
        them fails on its own)."""
        host = urlsplit(url).hostname or ""
        if _literal(host) is not None:
            return _refusal(host, [host])
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return None
        return _refusal(host, [str(i[4][0]) for i in infos])

    async def refusal_async(self, url: str) -> str | None:
        """:meth:`refusal` without blocking the event loop."""
        host = urlsplit(url).hostname or ""
        if _literal(host) is not None:
            return _refusal(host, [host])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError:
            return None
        return _refusal(host, [str(i[4][0]) for i in infos])

    def check(self, channel: Channel) -> None:
        """Raise ChannelError (field ``url``) when the channel's URL is refused."""
        url = getattr(channel, "url", None)
        if isinstance(url, str):
            reason = self.refusal(url)
            if reason:
                raise ChannelError("url", reason)


def check_file_channels(channels: Mapping[str, Any]) -> None:
    """Refuse a rules file whose channels point into private networks (at start)."""
    policy = AddressPolicy()
    for name, config in channels.items():
        try:
            policy.check(parse_channel(name, config))
        except ChannelError as exc:
            raise ChannelError(f"channels.{name}.{exc.field}", exc.reason) from None
