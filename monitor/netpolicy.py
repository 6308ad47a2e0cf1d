"""Which hosts the monitor may talk to. One policy, used by the config check and, as the last line
of defence, by the HTTP client (a base URL can also arrive through a redirect or a replay)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)


def host_problem(host: str, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why ``host`` is refused, or None.

    Always refused: metadata services, link-local addresses, and numeric hosts in a non-canonical
    spelling that only the resolver turns into an address (2852039166, 0xa9fea9fe, 127.1).
    """
    host = host.strip("[]").lower().rstrip(".")
    if not host:
        return "has no host"
    if host in METADATA_HOSTS:
        return f"host {host} is a cloud metadata service"
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(host)
        except OSError:
            return None if host != "localhost" or allow_loopback else _loopback_refused()
        return f"numeric host {host!r} is not a canonical IP address"
    return address_problem(ip, allow_loopback=allow_loopback, allow_private=allow_private, shown=host)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo client), or None."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(low) > 1:  # ::a.b.c.d (IPv4-compatible); :: and ::1 are themselves
        return low
    if any(ip in net for net in _NAT64):
        return low
    return None


def address_problem(ip: IPAddress, *, allow_loopback: bool = False, allow_private: bool = False,
                    shown: str | None = None) -> str | None:
    """Why a resolved address is refused, or None; IPv6 forms embedding an IPv4 address answer for it."""
    shown = shown or str(ip)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return address_problem(inner, allow_loopback=allow_loopback, allow_private=allow_private,
                               shown=f"{shown} (embeds {inner})")
    if ip in METADATA_IPS or ip.is_link_local:
        return f"link-local or metadata address {shown} is not allowed"
    if ip.is_loopback:
        return None if allow_loopback else _loopback_refused()
    if not ip.is_global and not allow_private:
        return f"private or reserved address {shown} is not allowed"
    return None


def _loopback_refused() -> str:
    return "loopback is allowed only with network.allow_loopback: true"


def url_problem(url: str, *, allow_loopback: bool = False, allow_plain_http: bool = False) -> str | None:
    """Why a base URL is refused, or None: only http(s), no credentials in the URL, a permitted host,
    and plain http only to loopback or when explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not allowed (use https)"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed (use the api_key_env setting)"
    host = parts.hostname or ""
    problem = host_problem(host, allow_loopback=allow_loopback)
    if problem:
        return problem
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and not loopback and not allow_plain_http:
        return "plain http is not allowed (use https, or set network.allow_plain_http)"
    return None
