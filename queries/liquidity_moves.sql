-- metric: liquidity_moves
-- description: events, not a series: the token leaving one DEX pool and entering another in the same transaction (LP migration); dex.pools columns [M] not executed
-- params: chain:text=ethereum, token_address:text=0x0000000000000000000000000000000000000000, days:number=90, min_usd:number=100000
WITH pools AS (
  SELECT DISTINCT pool FROM dex.pools
  WHERE blockchain = '{{chain}}' AND (token0 = {{token_address}} OR token1 = {{token_address}})
),
outs AS (
  SELECT t.tx_hash, t.block_time, t.block_number, t."from" AS from_pool, t.amount_usd
  FROM tokens.transfers t JOIN pools p ON t."from" = p.pool
  WHERE t.blockchain = '{{chain}}' AND t.contract_address = {{token_address}}
    AND t.block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
),
ins AS (
  SELECT t.tx_hash, t.evt_index, t."to" AS to_pool, t.amount, t.amount_usd
  FROM tokens.transfers t JOIN pools p ON t."to" = p.pool
  WHERE t.blockchain = '{{chain}}' AND t.contract_address = {{token_address}}
    AND t.block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
)
SELECT o.block_time, o.block_number, o.tx_hash, i.evt_index, o.from_pool, i.to_pool, i.amount, i.amount_usd
FROM outs o JOIN ins i ON o.tx_hash = i.tx_hash AND o.from_pool <> i.to_pool
WHERE i.amount_usd >= {{min_usd}}
ORDER BY 1
