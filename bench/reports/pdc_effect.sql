-- PDC's effect, from the latest bench pdc-sim run: hit ratio and device writes per trace, policy and
-- cache size, with no journal bypass (none), the exact journal ranges (exact) and the heuristic.
-- gain = hit ratio with exact PDC over without; writes_saved = 1 - device writes with exact / none.
-- chart: bar x=cache y=hit_ratio series=pdc facet=trace title="Hit ratio with and without PDC" unit=ratio
WITH latest AS (
  SELECT arg_max(id, started) AS run FROM runs
  WHERE tool = 'bench' AND command = 'pdc-sim' AND status = 'ok'
), f AS (
  SELECT (m.labels->>'trace') AS trace, (m.labels->>'policy') AS policy,
         TRY_CAST((m.labels->>'cache_blocks') AS BIGINT) AS cache_blocks,
         (m.labels->>'pdc') AS pdc, m.name, m.value
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE m.name IN ('hit_ratio', 'device_writes') AND (m.labels->>'pdc') IS NOT NULL
), p AS (
  SELECT trace, policy, cache_blocks, pdc,
         max(value) FILTER (WHERE name = 'hit_ratio') AS hit_ratio,
         max(value) FILTER (WHERE name = 'device_writes') AS device_writes
  FROM f GROUP BY ALL
)
SELECT p.trace, p.policy || ' ' || p.cache_blocks AS cache, p.policy, p.cache_blocks, p.pdc,
       round(p.hit_ratio, 4) AS hit_ratio, p.device_writes::BIGINT AS device_writes,
       round(p.hit_ratio / nullif(n.hit_ratio, 0), 3) AS gain,
       round(1 - p.device_writes / nullif(n.device_writes, 0), 3) AS writes_saved
FROM p LEFT JOIN p n ON n.trace = p.trace AND n.policy = p.policy
                    AND n.cache_blocks = p.cache_blocks AND n.pdc = 'none'
ORDER BY p.trace, p.policy, p.cache_blocks, p.pdc <> 'none', p.pdc;
