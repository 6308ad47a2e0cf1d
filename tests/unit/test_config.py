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


# ---------------------------------------------------------------- field types checked at load


def problems(text: str) -> list[str]:
    import yaml

    try:
        parse_config(yaml.safe_load(text))
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize("text, path", [
    ("sources: {okx: {poll_interval: 1hr}}", "sources.okx.poll_interval"),
    ("sources: {okx: {poll_interval: 0s}}", "sources.okx.poll_interval"),
    ("sources: {okx: {poll_interval: 0.0h}}", "sources.okx.poll_interval"),
    ("signals: {trend_window: 99999w}", "signals.trend_window"),  # beyond ten years: dates would overflow
    ("sources: {okx: {overlap: 99999999999999999w}}", "sources.okx.overlap"),  # beyond timedelta itself
    ("sources: {okx: {markets_cache_ttl: 1 day}}", "sources.okx.markets_cache_ttl"),
])
def test_a_duration_the_code_cannot_use_is_refused_at_load(text, path):
    [problem] = problems(text)
    assert problem.startswith(f"{path}: ")


def test_zero_is_allowed_where_it_means_none():
    config = parse_config({"sources": {"okx": {"overlap": "0s", "markets_cache_ttl": "0m"},
                                       "dune": {"max_age": "0h", "failure_backoff": "0s", "billing_pause": "0s"}}})
    assert config.sources.okx.overlap == "0s" and config.sources.dune.max_age == "0h"
    assert parse_config({"signals": {"trend_window": "520w"}}).signals.trend_window == "520w"


@pytest.mark.parametrize("venue, symbol", [("perp", "ENAUSDT"), ("perp", "ENA/USDT"), ("perp", "ENA-USDT-SWAP"),
                                           ("perp", "ENA/USDT:USDT-251226"), ("perp", "ENA/USDT:"),
                                           ("spot", "ENA/USDT:USDT"), ("spot", "ENA_USDT"), ("spot", "/USDT")])
def test_symbols_must_be_ccxt_unified(venue, symbol):
    [problem] = problems(f"tokens: [{{symbol: ENA, venues: {{gate: {{{venue}: '{symbol}'}}}}}}]")
    assert problem.startswith(f"tokens[0].venues.gate.{venue}: ") and "ccxt unified" in problem


@pytest.mark.parametrize("ts, expected", [
    ("2025-10-01", "2025-10-01T00:00:00+00:00"),  # YAML makes this a date
    ("2025-10-01T06:00:00+02:00", "2025-10-01T04:00:00+00:00"),  # and this an aware datetime
    ("'2025-10-01 06:00:00'", "2025-10-01T06:00:00+00:00"),  # a naive time is UTC
    ("1759276800", "2025-10-01T00:00:00+00:00"),  # epoch seconds
])
def test_migration_times_load_as_utc(ts, expected):
    import yaml

    config = parse_config(yaml.safe_load(f"tokens: [{{symbol: ENA, migrations: [{{id: v2, ts: {ts}}}]}}]"))
    assert config.tokens[0].migrations[0].ts.isoformat() == expected


@pytest.mark.parametrize("ts", ["soon", "'2025-02-30'", "yes", "1.0e+30", "-1.0e+20", "1.0e+18", "[2025]"])
def test_a_migration_time_that_is_not_one_is_refused(ts):
    [problem] = problems(f"tokens: [{{symbol: ENA, migrations: [{{id: v2, ts: {ts}}}]}}]")
    assert problem.startswith("tokens[0].migrations[0].ts: ")


def test_an_impossible_unquoted_date_is_a_config_error_not_a_crash(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("tokens:\n  - symbol: ENA\n    migrations: [{id: v2, ts: 2025-02-30}]\n")
    with pytest.raises(ConfigError, match=r"not valid YAML.*day is out of range"):
        load_config(path)


@pytest.mark.parametrize("value", ["[divmon]\\tx", "[divmon]\\u2028Bcc: x", "[divmon]\\x85Bcc: x", "a%0d%0aBcc: x",
                                   "a=0ABcc: x", "a\\\\nBcc: x", "=?utf-8?b?W2Rpdm1vbl0=?="])
def test_header_text_refuses_raw_and_encoded_breaks(value):
    [problem] = problems(f'email: {{subject_prefix: "{value}"}}')
    assert problem.startswith("email.subject_prefix: ")


def test_header_text_keeps_plain_unicode():
    assert parse_config({"email": {"subject_prefix": "[divmon → 50% ünïcode]"}}).email.subject_prefix == \
        "[divmon → 50% ünïcode]"


def test_relative_paths_in_a_file_follow_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "config.yaml"
    path.write_text("storage: {url: 'sqlite:///data/d.db?timeout=5', cache_dir: cache}\nreport: {out_dir: out}\n"
                    "email: {ca_file: ca.pem}\nsources: {dune: {queries_dir: q, ids_file: ids.json}}\n")
    config = load_config(path)
    assert config.storage.url == f"sqlite:///{folder}/data/d.db?timeout=5"
    assert (config.storage.cache_dir, config.report.out_dir, config.email.ca_file) == \
        (f"{folder}/cache", f"{folder}/out", f"{folder}/ca.pem")
    assert (config.sources.dune.queries_dir, config.sources.dune.ids_file) == (f"{folder}/q", f"{folder}/ids.json")
    kept = ["sqlite:////var/lib/divmon.db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"]
    for url in kept:
        path.write_text(f"storage: {{url: '{url}', cache_dir: /var/cache/divmon}}\n")
        config = load_config(path)
        assert config.storage.url == url and config.storage.cache_dir == "/var/cache/divmon"
    assert load_config(None).storage.url == "sqlite:///divmon.db"  # no file: the current folder
