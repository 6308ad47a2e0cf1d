"""Rows K1-K3: missing keys disable one source only; hostile YAML is refused; dangerous base URLs are
refused (the config check, and HttpClient's own guard behind it). Complements tests/unit/test_config.py
with different inputs rather than repeating it."""

from __future__ import annotations

import logging

import pytest

from monitor.app import SOURCE_MODULES, App
from monitor.config import Secrets, disabled_sources, load_config, parse_config
from monitor.errors import ConfigError, PermanentSourceError
from monitor.sources.http import HttpClient

KEYED = {"coinglass": "COINGLASS_API_KEY", "dune": "DUNE_API_KEY", "etherscan": "ETHERSCAN_API_KEY"}
ALL_KEYS = {"COINGLASS_API_KEY": "k1-canary-cg", "DUNE_API_KEY": "k1-canary-dune",
            "ETHERSCAN_API_KEY": "k1-canary-es", "COINGECKO_API_KEY": "k1-canary-gecko", "GITHUB_TOKEN": "k1-canary-gh"}


@pytest.mark.parametrize("source, env", sorted(KEYED.items()))
def test_k1_missing_key_disables_only_that_source_and_names_the_variable(source, env, caplog, sqlite_url,
                                                                         monkeypatch):
    import monitor.app
    from monitor.store import Store

    monkeypatch.setattr(monitor.app, "_WARNED", set())  # once per process: this test is a fresh process
    environ = {k: v for k, v in ALL_KEYS.items() if k != env}
    caplog.set_level(logging.WARNING)
    app = App(parse_config({}), secrets=Secrets(environ), store=Store(sqlite_url))
    assert app.disabled == {source: f"disabled: environment variable {env} is not set"}
    app.sources()  # the warning comes when the sources are about to run, not with every App
    warning = [r.getMessage() for r in caplog.records if source in r.getMessage()]
    assert warning and env in warning[0]
    assert not any(v in caplog.text for v in ALL_KEYS.values())
    app.close()


def test_k1_optional_keys_never_disable_a_source():
    # CoinGecko and GitHub work (slower) without their keys
    disabled = disabled_sources(parse_config({}), Secrets({}))
    assert "coingecko" not in disabled and "github" not in disabled


def test_k1_the_other_sources_are_built_and_run(sqlite_url):
    from monitor.store import Store

    missing = [m for m in set(SOURCE_MODULES.values()) if not _importable(m)]
    if missing:
        pytest.skip(f"source modules not written yet: {sorted(missing)}")
    app = App(parse_config({}), secrets=Secrets({k: v for k, v in ALL_KEYS.items() if k != "DUNE_API_KEY"}),
              store=Store(sqlite_url))
    built = set(app.sources())
    assert "dune" not in built and {"etherscan", "coinglass", "defillama", "binance"} <= built
    app.close()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("document", [
    "storage: !!python/object/apply:os.system ['touch {marker}']\n",
    "storage: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
    "tokens: !!python/name:os.system\n",
    "report: !!python/module:os\n",
    "tokens:\n  - symbol: AIA\n\tvenues: {{}}\n",  # a tab where YAML wants spaces
    "sources: [unclosed\n",
    "tokens:\n  - symbol: AIA\n    venues:\n      binance: {{perp: \"AIA/USDT:USDT\"\n",
])
def test_k2_hostile_or_malformed_yaml_is_refused_and_nothing_runs(tmp_path, document):
    marker = tmp_path / "pwned"
    path = tmp_path / "config.yaml"
    path.write_text(document.format(marker=marker))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    assert not marker.exists()


@pytest.mark.parametrize("top_level", ["- just\n- a list\n", "42\n", "'a string'\n"])
def test_k2_a_document_that_is_not_a_mapping_is_refused(tmp_path, top_level):
    path = tmp_path / "config.yaml"
    path.write_text(top_level)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


REFUSED = [
    "https://[fe80::1]/", "https://[::ffff:169.254.169.254]/", "https://0.0.0.0/", "https://[fd00::1]/",
    "https://192.168.1.10/", "https://172.16.0.5/", "https://10.1.2.3:8545/", "http://metadata.google.internal/",
    "gopher://example.org/", "ftp://example.org/pub", "file:///etc/passwd", "https:///no-host", "http://[::1]:8545",
    "https://localhost/",
]


@pytest.mark.parametrize("url", REFUSED)
@pytest.mark.parametrize("where", ["base_url", "rpc_urls"])
def test_k3_dangerous_urls_are_refused_in_every_url_field(url, where):
    sources = ({"defillama": {"base_url": url}} if where == "base_url"
               else {"chain": {"rpc_urls": {"ethereum": url}}})
    with pytest.raises(ConfigError):
        parse_config({"sources": sources})


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "https://10.0.0.8/", "file:///etc/passwd",
                                 "http://example.org/"])
def test_k3_the_loopback_flag_unlocks_loopback_and_nothing_else(url):
    with pytest.raises(ConfigError):
        parse_config({"network": {"allow_loopback": True}, "sources": {"defillama": {"base_url": url}}})
    config = parse_config({"network": {"allow_loopback": True},
                           "sources": {"defillama": {"base_url": "http://localhost:9999"}}})
    assert config.sources.defillama.base_url == "http://localhost:9999"


BYPASSES = ["https://2852039166/", "https://0xa9fea9fe/", "https://0251.0376.0251.0376/", "https://127.1/"]
# refused by the config policy only: shared-address space (metadata at 100.100.100.200) and inline credentials
CONFIG_ONLY = ["https://100.100.100.200/", "https://100.64.0.1/", "https://user:pw@api.example.org/"]


@pytest.mark.parametrize("url", [*BYPASSES, *CONFIG_ONLY])
def test_k3_numeric_spellings_of_forbidden_addresses_are_refused_by_config(url):
    with pytest.raises(ConfigError):
        parse_config({"sources": {"defillama": {"base_url": url}}})


@pytest.mark.parametrize("url", [*BYPASSES, "http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/",
                                 "http://100.100.100.200/"])
def test_k3_http_client_refuses_metadata_and_numeric_hosts_even_if_config_let_them_through(url):
    client = HttpClient("fake", url, deadline_s=1.0, max_retries=3)
    with pytest.raises(PermanentSourceError, match="refusing request"):
        client.get_json("latest/meta-data")  # the network guard would raise NetworkBlocked had it tried
