"""Issue 14: every client family (our HttpClient, ccxt, web3, dune-client) goes through one guarded
transport: no cross-host redirect, a whole-request deadline against trickles, a body cap, and the host
policy checked on resolved addresses at connect time. Loopback only (the suite's guard enforces it)."""

from __future__ import annotations

import time

import pytest

from monitor import netpolicy
from monitor.config import parse_config
from monitor.errors import ConfigError, PermanentSourceError, SourceError
from tests.faults.canary import CANARIES
from tests.integration.network.families import FAMILIES, failure

SLACK_S = 1.0  # scheduling tolerance on a 2-core box


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_302_to_another_host_is_not_followed(family, servers, make_app):
    second = servers("ok")
    first = servers("redirect", location=f"http://127.0.0.1:{second.port}/stolen?from=redirect")
    exc = failure(FAMILIES[family], make_app(first.url))
    assert first.requests, "the call reached the first server"
    assert second.connections == 0, f"{family} followed a redirect to another host"
    assert CANARIES["DUNE_API_KEY"] not in str(exc)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_trickle_with_connection_close_is_cut_by_the_deadline(family, servers, make_app):
    server = servers("trickle_close")
    app = make_app(server.url, deadline_s=1.0, read_timeout_s=2.0)
    t0 = time.monotonic()
    exc = failure(FAMILIES[family], app)
    elapsed = time.monotonic() - t0
    assert server.requests
    assert elapsed < 1.0 + SLACK_S, f"{family} was held {elapsed:.1f}s by a trickle ({type(exc).__name__})"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_body_over_the_cap_is_refused_without_reading_it_all(family, servers, make_app):
    server = servers("oversized", body_size=32 * 1024 * 1024)
    app = make_app(server.url, max_body_bytes=512 * 1024)
    exc = failure(FAMILIES[family], app)
    assert server.requests
    # what the server could push includes the kernel's socket buffers (several MB on loopback)
    assert server.sent_bytes < 16 * 1024 * 1024, f"{family} read {server.sent_bytes} bytes past a 512 KiB cap"
    if family == "ours":
        assert isinstance(exc, PermanentSourceError) and "cap" in str(exc)


@pytest.mark.parametrize("form", ["::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:a9fe:a9fe"])
def test_ipv6_forms_embedding_the_metadata_address_are_refused(form):
    problem = netpolicy.host_problem(f"[{form}]", allow_loopback=True, allow_private=True)
    assert problem and "169.254.169.254" in problem
    with pytest.raises(ConfigError, match="metadata"):
        parse_config({"network": {"allow_plain_http": True},
                      "sources": {"etherscan": {"base_url": f"http://[{form}]/v2/api"}}})


def test_public_ipv6_and_embedded_public_ipv4_still_pass():
    assert netpolicy.host_problem("2606:4700::6810:84e5") is None
    assert netpolicy.host_problem("2002:0808:0808::1") is None  # 6to4 of 8.8.8.8
    assert netpolicy.host_problem("[::1]", allow_loopback=False) is not None


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_name_resolving_to_loopback_is_refused_at_connect_time(family, servers, make_app, resolve_as):
    server = servers("ok")
    resolve_as("api.alias.test", "127.0.0.1")
    app = make_app(f"http://api.alias.test:{server.port}/",
                   network={"allow_loopback": False, "allow_plain_http": True})
    exc = failure(FAMILIES[family], app)
    assert server.connections == 0, f"{family} connected to a loopback alias with allow_loopback: false"
    assert "loopback" in str(exc) or family != "ours"


def test_the_checked_address_is_the_one_connected_to(servers, make_app, resolve_as):
    """The control: with loopback allowed the alias resolves through the test resolver and connects."""
    server = servers("ok")
    resolve_as("api.alias.test", "127.0.0.1")
    app = make_app(f"http://api.alias.test:{server.port}/",
                   network={"allow_loopback": True, "allow_plain_http": True})
    FAMILIES["ours"](app)
    assert server.connections == 1


@pytest.mark.parametrize("address", ["::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"])
def test_a_name_resolving_to_an_embedded_metadata_address_is_refused(address, make_app, resolve_as):
    resolve_as("api.rebind.test", address)
    app = make_app("http://api.rebind.test:8080/", network={"allow_loopback": True, "allow_plain_http": True})
    with pytest.raises(PermanentSourceError, match="metadata"):
        FAMILIES["ours"](app)


def test_our_client_reports_a_refused_redirect_as_permanent(servers, make_app):
    second = servers("ok")
    first = servers("redirect", location=f"http://127.0.0.1:{second.port}/")
    with pytest.raises(SourceError) as info:
        FAMILIES["ours"](make_app(first.url))
    assert isinstance(info.value, PermanentSourceError) and "redirect" in str(info.value)
