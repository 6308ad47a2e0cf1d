"""Which hosts the monitor may talk to. One policy, used by the config check and, as the last line
of defence, by the HTTP client (a base URL can also arrive through a redirect or a replay)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
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
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_IPS or ip.is_link_local:
        return f"link-local or metadata address {host} is not allowed"
    if ip.is_loopback:
        return None if allow_loopback else _loopback_refused()
    if not ip.is_global and not allow_private:
        return f"private or reserved address {host} is not allowed"
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
