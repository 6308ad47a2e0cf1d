"""What makes `divmon check` fast on a big config (issue 17): libyaml's loader, an indexed token lookup
that follows the token list, and the check benchmark measuring its reference in the same run."""

from __future__ import annotations

import yaml

import monitor.config as config_mod
from bench import world
from monitor.config import load_config


def test_config_is_read_with_libyaml_when_pyyaml_has_it(tmp_path, monkeypatch):
    assert config_mod.SAFE_LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)
    used = []

    class Recording(config_mod.SAFE_LOADER):  # type: ignore[misc, valid-type]
        def __init__(self, stream):  # noqa: ANN001
            used.append(type(self).__mro__[1].__name__)
            super().__init__(stream)

    monkeypatch.setattr(config_mod, "SAFE_LOADER", Recording)
    path = tmp_path / "config.yaml"
    path.write_text(world.config_yaml(tmp_path / "w.db", 3))
    assert [t.symbol for t in load_config(path).tokens] == ["T0000", "T0001", "T0002"]
    assert used == [("CSafeLoader" if yaml.__with_libyaml__ else "SafeLoader")]


def test_token_lookup_by_any_case_and_after_a_copy_with_other_tokens(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(world.config_yaml(tmp_path / "w.db", 50))
    cfg = load_config(path)
    assert cfg.token("t0042") is cfg.tokens[42] and cfg.token("T0007").symbol == "T0007"
    fewer = cfg.model_copy(update={"tokens": cfg.tokens[:3]})
    assert fewer.token("T0002") is cfg.tokens[2]
    try:
        fewer.token("T0042")
    except config_mod.ConfigError as exc:
        assert "T0042" in str(exc) and "configured: T0000, T0001, T0002" in str(exc)
    else:
        raise AssertionError("a token of the original list was found in the copy without it")
    assert cfg.token("T0042").symbol == "T0042"  # the original still finds it
