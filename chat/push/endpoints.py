"""Where a push may go: https on a public address, so a subscription is no way into our network.

A browser's push endpoint is a URL the server will POST to. Anyone with an account can
submit one, so it is checked twice: when the subscription is stored (:func:`check_endpoint`)
and again at each send, where the HTTP client connects only to the addresses this module
accepts (:class:`PublicResolver`), so a name that resolves elsewhere since (DNS rebinding)
gets nothing. ``CHAT_PUSH_ALLOW_INSECURE_ENDPOINTS=1`` (tests only) lifts both checks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from chat.errors import Invalid

RESOLVE_TIMEOUT_S = 5.0


def is_public(address: str) -> bool:
    """True for an address on the public internet: not loopback, private, link-local, multicast,
    reserved or unspecified. An IPv6 address that carries an IPv4 one is judged by that IPv4
    address too: IPv4-mapped (``::ffff:a.b.c.d``), 6to4 (``2002::/16``, which a relay turns into
    a packet to the embedded address) and Teredo (``2001:0::/32``: its server's and its client's
    addresses, both must be public)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _public(ip.ipv4_mapped)
        if ip.sixtofour is not None and not _public(ip.sixtofour):
            return False
        if ip.teredo is not None and not all(_public(embedded) for embedded in ip.teredo):
            return False
    return _public(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    refused = (
        ip.is_loopback,
        ip.is_private,
        ip.is_link_local,
        ip.is_multicast,
        ip.is_reserved,
        ip.is_unspecified,
        not ip.is_global,
    )
    return not any(refused)


def _refuse(reason: str) -> Invalid:
    return Invalid("push_endpoint_not_allowed", f"this push endpoint is not allowed: {reason}", field="endpoint")


def parse_endpoint(endpoint: str, *, allow_insecure: bool) -> SplitResult:
    """The endpoint's parts; 422 ``bad_url`` for no URL, ``push_endpoint_not_allowed`` for a scheme
    other than https (http too when insecure endpoints are allowed) or credentials in it."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise Invalid("bad_url", "endpoint is not a URL", field="endpoint") from None
    if not parts.hostname or not parts.scheme:
        raise Invalid("bad_url", "endpoint is not an absolute URL", field="endpoint")
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme.lower() not in schemes:
        raise _refuse("it must be https")
    if parts.username is not None or parts.password is not None:
        raise _refuse("it must not carry a user name or password")
    if port == 0:
        raise _refuse("port 0")
    return parts


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (``getaddrinfo`` runs on a thread, never on the loop)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_TIMEOUT_S
    )
    return sorted({str(info[4][0]) for info in infos})


async def check_endpoint(endpoint: str, *, allow_insecure: bool) -> None:
    """Refuse (422 ``push_endpoint_not_allowed``) an endpoint that is not https on a public address:
    every address its host resolves to must be public (one private answer is enough to refuse)."""
    parts = parse_endpoint(endpoint, allow_insecure=allow_insecure)
    if allow_insecure:
        return
    host = parts.hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host, parts.port or 443)
        except (OSError, TimeoutError, UnicodeError):
            raise _refuse(f"{host} does not resolve") from None
    if not addresses or not all(is_public(a) for a in addresses):
        raise _refuse(f"{host} is not a public address")


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses (:func:`is_public`): the connection is
    made to an address checked in the same breath, not to whatever the name says later."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()  # getaddrinfo on a thread

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public(r["host"])]
        if len(public) != len(found) or not public:
            raise OSError(f"{host} resolves to an address that is not public")
        return public

    async def close(self) -> None:
        await self._inner.close()
