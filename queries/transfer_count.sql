-- metric: transfer_count
-- description: daily number of transfers of the token
-- params: chain:text=ethereum, token_address:text=0x0000000000000000000000000000000000000000, days:number=90
SELECT block_date AS day, COUNT(*) AS transfer_count
FROM tokens.transfers
WHERE blockchain = '{{chain}}' AND contract_address = {{token_address}}
  AND block_date >= CURRENT_DATE - INTERVAL '{{days}}' DAY
GROUP BY 1
ORDER BY 1
