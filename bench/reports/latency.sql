-- Latency percentiles per peer: p50, p90, p99, p99.9 of every benchmark's latest run, in microseconds.
-- From metrics named lat_p50, lat_p99, lat_p99_9 (ns, us or ms), one chart per benchmark and case.
-- chart: bar x=percentile y=latency_us series=peer facet=figure title="Latency" unit=us
WITH latest AS (
  SELECT command AS bench, arg_max(id, started) AS run
  FROM runs WHERE tool = 'bench' AND status = 'ok' GROUP BY command
), lat AS (
  SELECT l.bench,
         replace(regexp_extract(m.name, 'p(\d+(_\d+)?)$', 1), '_', '.') AS pct,
         m.value * CASE lower(m.unit) WHEN 'ns' THEN 0.001 WHEN 'us' THEN 1 WHEN 'µs' THEN 1
                                      WHEN 'ms' THEN 1000 WHEN 's' THEN 1e6 END AS latency_us,
         coalesce((m.labels->>'peer'), (m.labels->>'engine'), (m.labels->>'impl'),
                  (m.labels->>'server'), (m.labels->>'mode'), (m.labels->>'side'), 'hvkit') AS peer,
         coalesce((m.labels->>'job'), (m.labels->>'case'), '') AS job
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE regexp_matches(m.name, '(^|_)p\d+(_\d+)?$') AND lower(m.unit) IN ('ns', 'us', 'µs', 'ms', 's')
)
SELECT bench, job, 'p' || pct AS percentile, peer, round(latency_us, 2) AS latency_us,
       trim(bench || ' ' || job) AS figure
FROM lat
ORDER BY bench, job, CAST(pct AS DOUBLE), peer;
