-- A guest's trace end to end: the live hit ratio of the qbic-cache serve run that recorded it,
-- PDC's view of it (journal share, precision/recall) and each policy's simulated hit ratio on it.
-- Joined by the trace's file name (serve --record FILE, pdc-filter classify|eval FILE, sim --trace
-- FILE); where a live run exists, only the simulated sizes equal to its cache size are shown.
-- chart: bar x=what y=value series=stage facet=trace title="Live, PDC and simulated, per trace" unit=ratio
WITH live AS (
  SELECT regexp_replace((r.args->>'record'), '^.*/', '') AS trace, 'live' AS stage,
         (m.labels->>'policy') AS policy, coalesce((r.args->>'admit'), 'all') AS admit,
         TRY_CAST((r.args->>'cacheSize') AS DOUBLE) / 1048576 AS cache_mib,
         m.name AS figure, m.value, r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'qbic-cache' AND r.command = 'serve' AND r.status = 'ok'
    AND coalesce((r.args->>'record'), '-') <> '-' AND m.name = 'hit_ratio'
), pdc AS (
  SELECT regexp_replace(coalesce((r.args->>'trace'), '-'), '^.*/', '') AS trace, 'pdc' AS stage,
         NULL AS policy, NULL AS admit, NULL::DOUBLE AS cache_mib,
         CASE m.name WHEN 'journal_records' THEN 'journal share' ELSE m.name END AS figure,
         CASE m.name WHEN 'journal_records'
           THEN m.value / nullif((SELECT max(x.value) FROM metrics x
                                  WHERE x.run = r.id AND x.name = 'records'), 0)
           ELSE m.value END AS value,
         r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'pdc-filter' AND r.command IN ('classify', 'eval') AND r.status = 'ok'
    AND m.name IN ('journal_records', 'precision', 'recall')
), sim AS (
  SELECT regexp_replace(coalesce((m.labels->>'trace'), (r.args->>'trace'), '-'), '^.*/', '') AS trace, 'sim' AS stage,
         (m.labels->>'policy') AS policy, coalesce((m.labels->>'admit'), 'all') AS admit,
         TRY_CAST((m.labels->>'size') AS DOUBLE) / 1048576 AS cache_mib,
         m.name AS figure, m.value, r.id AS run, r.started
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'qbic-cache' AND r.command = 'sim' AND r.status = 'ok' AND m.name = 'hit_ratio'
), all_rows AS (SELECT * FROM live UNION ALL SELECT * FROM pdc UNION ALL SELECT * FROM sim),
latest AS (
  SELECT trace, stage, figure, policy, admit, cache_mib, arg_max(run, started) AS run
  FROM all_rows GROUP BY ALL
),
traced AS (SELECT trace FROM live UNION SELECT trace FROM pdc)
SELECT a.trace, a.stage,
       CASE WHEN a.stage = 'pdc' THEN a.figure
            ELSE a.stage || ' ' || a.policy || CASE WHEN a.admit = 'all' THEN '' ELSE '+' || a.admit END
                 || ' ' || regexp_replace(round(a.cache_mib, 2)::VARCHAR, '\.0$', '') || 'MiB'
       END AS what,
       a.policy, a.admit, round(a.cache_mib, 2) AS cache_mib, round(a.value, 4) AS value
FROM all_rows a
JOIN latest l ON l.run = a.run AND l.trace = a.trace AND l.stage = a.stage AND l.figure = a.figure
             AND l.policy IS NOT DISTINCT FROM a.policy AND l.admit IS NOT DISTINCT FROM a.admit
             AND l.cache_mib IS NOT DISTINCT FROM a.cache_mib
WHERE a.trace IN (SELECT trace FROM traced) AND a.trace <> '-'
  AND (a.stage <> 'sim' OR NOT EXISTS (SELECT 1 FROM live v WHERE v.trace = a.trace)
       OR a.cache_mib IN (SELECT v.cache_mib FROM live v WHERE v.trace = a.trace))
ORDER BY a.trace, a.stage = 'sim', a.stage, a.cache_mib, a.policy;
