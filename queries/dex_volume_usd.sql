-- metric: dex_volume_usd
-- description: daily DEX volume in USD of trades that buy or sell the token
-- params: chain:text=ethereum, token_address:text=0x0000000000000000000000000000000000000000, days:number=90
SELECT block_date AS day, SUM(amount_usd) AS dex_volume_usd
FROM dex.trades
WHERE blockchain = '{{chain}}'
  AND (token_bought_address = {{token_address}} OR token_sold_address = {{token_address}})
  AND block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
GROUP BY 1
ORDER BY 1
