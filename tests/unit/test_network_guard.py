import socket

import pytest
import requests

from tests.conftest import NetworkBlocked


def test_connection_beyond_loopback_is_refused():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 443), timeout=1)


def test_name_resolution_beyond_loopback_is_refused():
    # NetworkBlocked is not an OSError, so no client library can swallow it as a transient failure
    with pytest.raises(NetworkBlocked, match="only loopback is allowed"):
        requests.get("https://api.example.org/", timeout=1)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
