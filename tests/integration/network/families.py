"""One call through each client family, built by the real source builders from an App's context."""

from __future__ import annotations

from monitor.app import App
from monitor.errors import SourceError
from monitor.sources import chain, dune, exchanges
from monitor.sources.http import HttpClient


def ours(app: App) -> None:
    cfg = app.config.sources.etherscan
    ctx = app.context()
    client = HttpClient.from_config("etherscan", cfg, session=ctx.session_factory(), redactor=ctx.redactor,
                                    health=ctx.health, limiter=ctx.limiters.get("etherscan", 1000, 100))
    client.get_json("", params={"module": "proxy", "apikey": app.secrets.get("ETHERSCAN_API_KEY")})


def ccxt(app: App) -> None:
    source = exchanges.build("binance", app.config.sources.binance, app.context())
    source.call("time", source.exchange.fetch_time)


def web3(app: App) -> None:
    chain.build("chain", app.config.sources.chain, app.context()).rpc("ethereum").call("eth_blockNumber", [])


def dune_api(app: App) -> None:
    source = dune.build("dune", app.config.sources.dune, app.context())
    source._api("GET", "/execution/01HKZJ2683PHF9Q9PHHQ8FW4Q1/status")


FAMILIES = {"ours": ours, "ccxt": ccxt, "web3": web3, "dune": dune_api}


def failure(call, app: App) -> BaseException:
    """The exception one family's call ends with (every scenario here must end in one)."""
    try:
        call(app)
    except (SourceError, Exception) as exc:
        return exc
    raise AssertionError("the call succeeded against a misbehaving upstream")
