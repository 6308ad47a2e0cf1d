"""Issue 14: `divmon -vv poll` and `divmon -vv record --out D` as subprocesses, against an upstream that
echoes the key into its answers: no piece of the key in stdout, stderr (urllib3's debug lines carry the
query string) or any file written (database, recording)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from werkzeug import Request, Response

from tests.cli.runner import divmon, offline_config, write_config
from tests.faults.canary import CANARIES, forms

KEY = CANARIES["ETHERSCAN_API_KEY"]
ADDR = "0x" + "11" * 20


def _echo(request: Request) -> Response:
    # Etherscan's error shape, with the key the request carried echoed back (some upstreams do)
    return Response(f'{{"status": "0", "message": "NOTOK", "result": "Invalid API Key {request.args.get("apikey")}"}}',
                    status=200, content_type="application/json")


def _config(tmp_path: Path, httpserver) -> Path:
    data = offline_config(sources={"etherscan": {
        "base_url": httpserver.url_for("/v2/api").rstrip("/"), "api_key_env": "DIVMON_TEST_ES_KEY",
        "max_retries": 0, "deadline_s": 3}})
    data["tokens"] = [{"symbol": "AIA", "chains": [{"chain": "ethereum", "chain_id": 1, "token_address": ADDR,
                                                      "deployers": ["0x" + "22" * 20]}]}]
    data["storage"] = {"url": f"sqlite:///{tmp_path / 'db.sqlite'}", "cache_dir": str(tmp_path / "cache")}
    return write_config(tmp_path / "config.yaml", yaml.safe_dump(data))


def _pieces(text: str, n: int = 8) -> list[str]:
    """Every ``n``-character piece of the key (raw or URL-encoded) found in text."""
    return sorted({f[i:i + n] for f in forms(KEY) for i in range(len(f) - n + 1) if f[i:i + n] in text})


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("command", [["poll", "--source", "etherscan"],
                                     ["record", "--source", "etherscan", "--out", "REC"]])
def test_a_vv_run_never_shows_a_piece_of_the_key(command, tmp_path, httpserver):
    httpserver.expect_request("/v2/api").respond_with_handler(_echo)
    config = _config(tmp_path, httpserver)
    args = [a.replace("REC", str(tmp_path / "rec")) for a in command]
    out = divmon("-c", str(config), "-vv", *args, env={"DIVMON_TEST_ES_KEY": KEY})
    assert httpserver.log, f"the command sent nothing: {out.stderr[-400:]}"
    assert "urllib3" in out.stderr  # the debug lines were there to leak
    assert not _pieces(out.stdout + out.stderr), out.stderr[-800:]
    assert not _pieces(_files_text(tmp_path))
