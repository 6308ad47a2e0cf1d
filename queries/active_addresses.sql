-- metric: active_addresses
-- description: daily distinct senders and receivers of the token (zero address excluded)
-- params: chain:text=ethereum, token_address:text=0x0000000000000000000000000000000000000000, days:number=90
WITH t AS (
  SELECT block_date, "from" AS addr FROM tokens.transfers
  WHERE blockchain = '{{chain}}' AND contract_address = {{token_address}}
    AND block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
  UNION ALL
  SELECT block_date, "to" FROM tokens.transfers
  WHERE blockchain = '{{chain}}' AND contract_address = {{token_address}}
    AND block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
)
SELECT block_date AS day, COUNT(DISTINCT addr) AS active_addresses
FROM t
WHERE addr <> 0x0000000000000000000000000000000000000000
GROUP BY 1
ORDER BY 1
