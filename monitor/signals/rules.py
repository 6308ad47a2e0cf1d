"""The signal catalogue (DESIGN.md §4): each rule is a pure ``(Context, SignalsConfig) -> list[Flag]``.

Rules read shared state only from the Context (mirrored venues, liquidations, fresh venues), never from
each other, so their order does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.model import Flag
from monitor.signals.context import Context
from monitor.signals.rules_data import data_blind_spot, source_disagreement
from monitor.signals.rules_exchange import exchange_event, extreme_funding
from monitor.signals.rules_flow import (
    liquidation_spike,
    oi_exceeds_economy,
    oi_surge_unsupported,
    oi_surge_with_redeployment,
    perp_spot_ratio,
)
from monitor.signals.rules_positioning import crowded_longs, oi_price_regime, short_buildup

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

Rule = Callable[[Context, "SignalsConfig"], list[Flag]]

RULES: dict[str, Rule] = {
    "source_disagreement": source_disagreement,
    "data_blind_spot": data_blind_spot,
    "oi_surge_unsupported": oi_surge_unsupported,
    "oi_surge_with_redeployment": oi_surge_with_redeployment,
    "perp_spot_ratio": perp_spot_ratio,
    "oi_exceeds_economy": oi_exceeds_economy,
    "crowded_longs": crowded_longs,
    "short_buildup": short_buildup,
    "oi_price_regime": oi_price_regime,
    "liquidation_spike": liquidation_spike,
    "exchange_event": exchange_event,
    "extreme_funding": extreme_funding,
}


def run_rules(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    flags: list[Flag] = []
    for rule in RULES.values():
        flags.extend(rule(ctx, cfg))
    return flags
