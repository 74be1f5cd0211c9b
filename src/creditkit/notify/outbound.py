"""Where creditkit may connect: the policy every webhook URL passes, when registered and again
at each delivery.

A webhook URL is chosen by whoever holds an admin key, and the worker posts to it from inside
the operator's network: without a policy that is a way to reach the database port, a cloud's
metadata service or an internal admin page, and the delivery errors map what answers. So:

- ``https`` only (plain ``http`` with ``allow_private`` alone, for a receiver on a laptop);
- the host, as a name or a literal in any form a resolver accepts (``127.1``, ``2130706433``,
  ``0x7f000001``, ``[::ffff:127.0.0.1]``), is resolved, and every address it gives must be
  public: loopback, private, link-local, multicast, reserved, unspecified and shared addresses
  are refused, and an IPv6 address that embeds an IPv4 one (mapped, 6to4, NAT64) is judged by
  the IPv4 address it carries;
- names that only mean something inside a network (``localhost``, ``*.internal``, ``*.local``,
  single labels) are refused without asking a resolver;
- at delivery the host is resolved again, checked again, and the connection goes to the very
  address that was checked (the ``Host`` header and TLS name stay the URL's), so a name that
  changes its answer between the check and the connection (DNS rebinding) gains nothing;
- redirects are never followed.

``allow_private`` turns the address checks off, for development against a receiver on this
machine; it is off by default and announced loudly wherever it is on.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from creditkit.errors import InvalidRequest

#: Resolves a host name and port to the addresses a connection may go to.
Resolver = Callable[[str, int], Sequence[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Addresses of one name looked at, at most.
ADDRESSES_CHECKED_MAX = 32
#: Names that mean something only inside a network, refused without resolving them.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
#: A host made of digits, hex and dots is an IPv4 literal in one of inet_aton's forms.
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

log = logging.getLogger("creditkit.webhooks")


class AddressRefused(Exception):
    """A URL's address is not one creditkit connects to; ``category`` says why in one word."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos[:ADDRESSES_CHECKED_MAX]]


def literal_address(host: str) -> IpAddress | None:
    """The address ``host`` is written as, in any of the forms a resolver reads as one
    (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``::ffff:7f00:1``); None for a
    name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise AddressRefused("address_invalid", f"{host!r} is not a valid address") from None
    return None


def refusal(address: IpAddress) -> str | None:
    """Why creditkit does not connect to ``address`` (a category), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for category, refused in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not_public", not address.is_global),
    ):
        if refused:
            return category
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a delivery connects: the checked ``address`` (a URL with it as host) and the
    original host, which goes in ``Host`` and the TLS handshake."""

    url: httpx.URL
    host_header: str
    server_name: str


@dataclass(frozen=True)
class OutboundPolicy:
    """The policy of webhook URLs. ``allow_private`` (development only) lets ``http`` and
    non-public addresses through; ``resolver`` is the system's unless a test injects one."""

    allow_private: bool = False
    resolver: Resolver = field(default=system_resolver)

    def __post_init__(self) -> None:
        if self.allow_private:
            log.warning(
                "webhooks may target private and loopback addresses over plain http"
                " (allow_private_webhooks): for development only"
            )

    def check_url(self, text: str) -> httpx.URL:
        """``text`` as a URL creditkit may post to; ``InvalidRequest`` naming ``url`` when not.
        A name that does not resolve yet is accepted: delivery resolves and checks it again."""
        url = self._parse(text)
        try:
            self._addresses(url, resolve_failure_refused=False)
        except AddressRefused as refused:
            raise InvalidRequest("url", refused.reason) from None
        return url

    def target(self, text: str) -> Target:
        """Where a delivery to ``text`` connects, checked now; ``AddressRefused`` when it may
        not."""
        try:
            url = self._parse(text)
        except InvalidRequest as invalid:
            raise AddressRefused("url_refused", invalid.reason) from None
        addresses = self._addresses(url, resolve_failure_refused=True)
        address = addresses[0]
        host = url.host
        default_port = {"https": 443, "http": 80}[url.scheme]
        port = url.port or default_port
        host_header = host if ":" not in host else f"[{host}]"
        if port != default_port:
            host_header = f"{host_header}:{port}"
        return Target(url.copy_with(host=str(address), port=port), host_header, host)

    def _parse(self, text: str) -> httpx.URL:
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError) as error:
            raise InvalidRequest("url", f"is not a URL: {error}") from None
        schemes = ("https", "http") if self.allow_private else ("https",)
        if url.scheme not in schemes or not url.host:
            raise InvalidRequest(
                "url",
                "must be an https URL with a host"
                + ("" if self.allow_private else " (http only with allow_private_webhooks)"),
            )
        if url.userinfo:
            raise InvalidRequest("url", "must not carry a user name or password")
        return url

    def _addresses(self, url: httpx.URL, *, resolve_failure_refused: bool) -> list[IpAddress]:
        host = url.host.rstrip(".").lower()
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            if not self.allow_private and (
                "." not in host or host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)
            ):
                raise AddressRefused(
                    "internal_name", f"{host!r} names a host inside a network, not a public one"
                )
            try:
                resolved = self.resolver(host, url.port or 443)
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
            except (OSError, ValueError, UnicodeError):
                addresses = []
            if not addresses:
                if resolve_failure_refused:
                    raise AddressRefused("dns_failed", f"{host!r} does not resolve")
                return []
        if self.allow_private:
            return addresses[:ADDRESSES_CHECKED_MAX]
        for address in addresses[:ADDRESSES_CHECKED_MAX]:
            category = refusal(address)
            if category is not None:
                raise AddressRefused(
                    "address_refused",
                    f"{host!r} is a {category.replace('_', '-')} address: webhooks go to public"
                    " addresses only",
                )
        return addresses[:ADDRESSES_CHECKED_MAX]


def error_category(failure: httpx.HTTPError) -> str:
    """A failed delivery's error as a category: never the socket's own words, which would
    tell whoever reads deliveries what answers where."""
    for kind, category in (
        (httpx.TimeoutException, "timeout"),
        (httpx.ConnectError, "connect_failed"),
        (httpx.RemoteProtocolError, "protocol_error"),
        (httpx.NetworkError, "network_error"),
        (httpx.ProtocolError, "protocol_error"),
    ):
        if isinstance(failure, kind):
            return category
    return "request_failed"
