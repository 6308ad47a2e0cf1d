"""Issue 14: an upstream echoing a key anywhere in an error body (here at offsets 60-119, where a
"redact the first 120 characters, then cut" rule leaks part of it) must not leak any 8+ character piece
of it into the exception, the health rows or the log."""

from __future__ import annotations

import logging

import pytest

from monitor.errors import SourceError
from monitor.sources.redact import Redactor
from tests.faults.canary import CANARIES, fragment_hits

KEY = CANARIES["DUNE_API_KEY"]
BODIES = {
    "4xx": (400, "application/json", lambda pad: '{"error": "' + pad + KEY + ' is not a valid key for this request"}'),
    "5xx": (502, "application/json", lambda pad: '{"error": "' + pad + KEY + ' upstream timed out, try again"}'),
    "html": (503, "text/html", lambda pad: "<html><body>" + pad + KEY + " maintenance</body></html>"),
    "invalid-json": (200, "application/json", lambda pad: '{"data": [1, 2, "' + pad + KEY + '" oops'),
}


def _body(kind: str, offset: int) -> tuple[int, str, str]:
    status, ctype, build = BODIES[kind]
    head = build("").split(KEY)[0]
    body = build("p" * (offset - len(head)))
    assert body.index(KEY) == offset
    return status, ctype, body


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_a_key_echoed_at_offsets_60_to_119_never_leaks_a_piece(kind, httpserver, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    for offset in range(60, 120):
        status, ctype, body = _body(kind, offset)
        httpserver.expect_ordered_request(f"/echo/{offset}").respond_with_data(body, status=status,
                                                                              content_type=ctype)
    client = make_client(httpserver.url_for("/"), max_retries=0, redactor=Redactor([KEY]))
    texts = []
    for offset in range(60, 120):
        with pytest.raises(SourceError) as info:
            client.get_json(f"echo/{offset}", token="AIA")
        texts += [str(info.value), repr(info.value)]
    runs = client.health.drain()
    assert len(runs) == 60
    texts += [r.message or "" for r in runs]
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith(("werkzeug", "pytest_httpserver"))]
    assert "****" in "\n".join(texts)  # the bodies were quoted, with the key masked
    leaks = fragment_hits("\n".join(texts))
    assert not leaks, f"a piece of the {leaks} canary leaked from {kind} bodies"


def test_any_long_piece_of_a_secret_is_masked_short_ones_are_not():
    redact = Redactor([KEY])
    assert fragment_hits(redact("cut here: " + KEY[:9])) == []
    assert fragment_hits(redact(KEY[5:] + " and on")) == []
    assert redact("token cnry-d!") == "token cnry-d!"  # 6 characters of it: below the 8-character floor
    url = "https://hooks.example.org/services/cnry-hook-T9w"
    redact.add([url])
    assert redact("see https://hooks.example.org/other") == "see https://hooks.example.org/other"
    assert "cnry-hook" not in redact("posted to /services/cnry-hook-T9")
