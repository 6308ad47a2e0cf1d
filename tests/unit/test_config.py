from pathlib import Path

import pytest

from monitor.config import Secrets, disabled_sources, load_config, parse_config, render_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads():
    config = load_config(ROOT / "config.yaml")
    assert config.token("aia").symbol == "AIA"
    assert config.sources.okx.rate_limit_per_s == 2.5
    assert config.sources.okx.base_url == "https://www.okx.com"  # default kept under a partial override


def test_every_problem_is_reported_with_its_yaml_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "tokens:\n  - symbol: AIA\n    colour: red\n"
        "sources:\n  binance: {rate_limit_per_s: -1}\n"
        "signals:\n  oi_surge_pct: lots\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "tokens[0].colour: unknown key",
        "sources.binance.rate_limit_per_s: Input should be greater than 0",
        "signals.oi_surge_pct: Input should be a valid number, unable to parse string as a number",
    ]


def test_python_object_tags_are_rejected_by_safe_loading(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("storage: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("tokens:\n  - symbol: AIA\n   venues: {\n")
    with pytest.raises(ConfigError, match="line 3"):
        load_config(path)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://169.254.169.254/latest", "link-local"),
        ("https://10.0.0.8/api", "private or reserved"),
        ("http://api.example.org", "plain http"),
        ("http://127.0.0.1:8080", "allow_loopback"),
    ],
)
def test_dangerous_base_urls_are_refused(url, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config({"sources": {"defillama": {"base_url": url}}})


def test_loopback_is_allowed_only_when_enabled():
    config = parse_config({"network": {"allow_loopback": True}, "sources": {"defillama": {"base_url": "http://127.0.0.1:8080"}}})
    assert config.sources.defillama.base_url == "http://127.0.0.1:8080"


def test_a_key_in_place_of_an_env_var_name_is_refused():
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        parse_config({"sources": {"dune": {"api_key_env": "sk-live-abc123"}}})


def test_missing_key_disables_source_naming_the_env_var_never_the_value():
    config = parse_config({})
    secrets = Secrets({"DUNE_API_KEY": "dune-secret-value", "ETHERSCAN_API_KEY": ""})
    disabled = disabled_sources(config, secrets)
    assert "dune" not in disabled
    assert disabled["etherscan"] == "disabled: environment variable ETHERSCAN_API_KEY is not set"
    assert disabled["coinglass"] == "disabled: environment variable COINGLASS_API_KEY is not set"
    rendered = render_config(config, secrets)
    assert "dune-secret-value" not in rendered
    assert "api_key: '****'" in rendered


def test_unknown_venue_and_duplicate_token_are_refused():
    with pytest.raises(ConfigError, match="unknown venue 'kraken'"):
        parse_config({"tokens": [{"symbol": "X", "venues": {"kraken": {"perp": "X/USDT:USDT"}}}]})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({"tokens": [{"symbol": "X"}, {"symbol": "x"}]})


def test_unknown_token_lists_the_configured_ones():
    with pytest.raises(ConfigError, match=r"configured: AIA"):
        load_config(ROOT / "config.yaml").token("NOPE")


def test_log_records_are_scrubbed_of_the_apps_secrets(caplog):
    import logging

    from monitor.app import App, install_log_redaction

    app = App(parse_config({}), secrets=Secrets({"DUNE_API_KEY": "dune-canary-123456"}))
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        install_log_redaction(app.redactor)
        install_log_redaction(app.redactor)
        assert sum(1 for f in handler.filters if type(f).__name__ == "RedactingFilter") == 1
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "GET /q?key=%s", ("dune-canary-123456",), None)
        for f in handler.filters:
            f.filter(record)
        assert record.getMessage() == "GET /q?key=****"
    finally:
        logging.getLogger().removeHandler(handler)
