-- Miss-ratio curves per trace: each policy's simulated miss ratio by cache size (qbic-cache sim),
-- and LRU's exact curve from stack distances (qbic-cache mrc), latest run per trace and policy.
-- Miss ratio = 1 - hit ratio, counted per block access; the admission filter is in the series name.
-- The latest bench pdc-sim run adds its curves (trace "bench pdc-sim: NAME": each policy with no PDC,
-- and "+pdc" with the exact journal ranges; the heuristic's figures are in pdc_effect).
-- chart: line x=cache_mib y=miss_ratio series=series facet=trace logx title="Miss ratio by cache size"
WITH sim AS (
  SELECT regexp_replace(coalesce((m.labels->>'trace'), (r.args->>'trace'), '?'), '^.*/', '') AS trace,
         (m.labels->>'policy') || CASE WHEN coalesce((m.labels->>'admit'), 'all') = 'all' THEN ''
                                       ELSE '+' || (m.labels->>'admit') END AS series,
         TRY_CAST((m.labels->>'size') AS DOUBLE) / 1048576 AS cache_mib,
         1 - m.value AS miss_ratio, r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'qbic-cache' AND r.command = 'sim' AND r.status = 'ok' AND m.name = 'hit_ratio'
), mrc AS (
  SELECT regexp_replace(coalesce((r.args->>'trace'), '?'), '^.*/', '') AS trace,
         'lru curve (' || coalesce((m.labels->>'method'), 'exact') || ')' AS series,
         TRY_CAST((m.labels->>'size') AS DOUBLE) / 1048576 AS cache_mib,
         m.value AS miss_ratio, r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'qbic-cache' AND r.command = 'mrc' AND r.status = 'ok'
    AND m.name = 'lru_miss_ratio'
), pdc AS (
  SELECT 'bench pdc-sim: ' || (m.labels->>'trace') AS trace,
         (m.labels->>'policy') || CASE (m.labels->>'pdc') WHEN 'exact' THEN '+pdc' ELSE '' END
           AS series,
         TRY_CAST((m.labels->>'cache_blocks') AS DOUBLE) * 4096 / 1048576 AS cache_mib,
         1 - m.value AS miss_ratio, r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'bench' AND r.command = 'pdc-sim' AND r.status = 'ok' AND m.name = 'hit_ratio'
    AND (m.labels->>'pdc') IN ('none', 'exact')
    AND r.id = (SELECT arg_max(id, started) FROM runs
                WHERE tool = 'bench' AND command = 'pdc-sim' AND status = 'ok')
), points AS (SELECT * FROM sim UNION ALL SELECT * FROM mrc UNION ALL SELECT * FROM pdc),
latest AS (
  SELECT trace, series, arg_max(run, started) AS run FROM points GROUP BY trace, series
)
SELECT p.trace, p.series, round(p.cache_mib, 4) AS cache_mib, round(p.miss_ratio, 4) AS miss_ratio
FROM points p JOIN latest l ON l.run = p.run AND l.trace = p.trace AND l.series = p.series
WHERE p.cache_mib IS NOT NULL AND p.cache_mib > 0
ORDER BY p.trace, p.series, p.cache_mib;
