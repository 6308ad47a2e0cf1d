-- metric: holders
-- description: holders (balance > 0) at the end of each day, from cumulative transfer flows
-- params: chain:text=ethereum, token_address:text=0x0000000000000000000000000000000000000000, days:number=90
WITH flows AS (
  SELECT block_date AS day, "to" AS holder, CAST(amount_raw AS INT256) AS delta FROM tokens.transfers
  WHERE blockchain = '{{chain}}' AND contract_address = {{token_address}}
  UNION ALL
  SELECT block_date, "from", -CAST(amount_raw AS INT256) FROM tokens.transfers
  WHERE blockchain = '{{chain}}' AND contract_address = {{token_address}}
),
daily AS (
  SELECT day, holder, SUM(delta) AS delta FROM flows
  WHERE holder <> 0x0000000000000000000000000000000000000000
  GROUP BY 1, 2
),
balances AS (
  SELECT day, holder, SUM(delta) OVER (PARTITION BY holder ORDER BY day) AS bal,
         LEAD(day) OVER (PARTITION BY holder ORDER BY day) AS next_day
  FROM daily
),
days AS (
  SELECT d AS day FROM UNNEST(SEQUENCE(CURRENT_DATE - INTERVAL '{{days}}' DAY, CURRENT_DATE, INTERVAL '1' DAY)) AS s(d)
)
SELECT days.day, COUNT(balances.holder) AS holders
FROM days
LEFT JOIN balances
  ON balances.day <= days.day AND (balances.next_day IS NULL OR balances.next_day > days.day) AND balances.bal > 0
GROUP BY 1
ORDER BY 1
