"""`divmon record` and `divmon --replay DIR <command>` through the CLI entry point."""

import json

import yaml

from monitor.cli import main
from tests.integration.demo.test_record import CANARY, _config, _serve_upstream


def _config_file(tmp_path, httpserver):
    data = _config(httpserver).model_dump(mode="json", warnings=False)
    data["tokens"][0]["chains"][0]["token_address"] = None  # ChainWatch dumps None as [] (config.py)
    data["storage"] = {"url": f"sqlite:///{tmp_path / 'live.db'}"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_record_then_replay_poll_from_the_cli(httpserver, tmp_path, monkeypatch, capsys):
    _serve_upstream(httpserver)
    monkeypatch.setenv("ETHERSCAN_API_KEY", CANARY)
    cfg = _config_file(tmp_path, httpserver)
    out = tmp_path / "rec"
    assert main(["-c", str(cfg), "record", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "recorded 2 responses from 2 source(s)" in printed and CANARY not in printed
    assert not (tmp_path / "live.db").exists()  # recording never writes the live database

    httpserver.clear()
    monkeypatch.delenv("ETHERSCAN_API_KEY")  # a replay needs no key
    assert main(["--replay", str(out), "poll"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["defillama", "ORG", "ok"] for line in lines)
    assert any(line.split()[:3] == ["etherscan", "ORG", "ok"] for line in lines)
    assert (out / "replay.db").is_file()  # the replay's own database, next to the recording

    # the same report from the same data, whenever it is made
    reports = []
    for i in range(2):
        path = tmp_path / f"report{i}.json"
        assert main(["--replay", str(out), "report", "--format", "json", "--out", str(path)]) == 0
        reports.append(path.read_bytes())
    assert reports[0] == reports[1]
    recorded_at = json.loads((out / "manifest.json").read_text())["time"]
    assert json.loads(reports[0])["generated_at"] == recorded_at  # stamped with the recording's clock
    assert not httpserver.log


def test_replay_of_a_directory_that_is_not_a_recording_is_a_config_error(tmp_path, capsys):
    assert main(["--replay", str(tmp_path), "poll"]) == 78
    assert "not a recording" in capsys.readouterr().err
