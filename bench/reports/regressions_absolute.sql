-- Absolute figures against the previous run: each non-ratio figure of a benchmark's latest run against the same figure of its previous runs on the same host.
-- On a shared or loaded machine these move with the load (the peer's as much as hvkit's), so
-- they are reported, and fail `--check-regressions PCT` only with `--absolute`. worse_pct > 0
-- means worse; the direction is labels.better, else inferred from the unit (1/s, MiB/s: higher
-- is better; ns, us, ms, s: lower is better; see bench/README.md); figures with no known
-- direction are left out. "before" is the least favourable of the up to 3 previous runs of the
-- same size; median_before their median.
-- chart: bar x=figure y=worse_pct facet=bench title="Change against the previous run (positive = worse)" unit=%
WITH ranked AS (
  SELECT id, command AS bench, host, args->>'quick' AS quick,
         row_number() OVER (PARTITION BY command, host, (args->>'quick')
                            ORDER BY started DESC) AS k,
         row_number() OVER (PARTITION BY command, host ORDER BY started DESC) AS newest
  FROM runs WHERE tool = 'bench' AND status = 'ok'
), pairs AS (
  SELECT a.bench, a.host, a.id AS latest, b.id AS previous
  FROM ranked a JOIN ranked b ON a.bench = b.bench AND a.host = b.host AND a.newest = 1
   AND a.k = 1 AND b.k BETWEEN 2 AND 4 AND a.quick IS NOT DISTINCT FROM b.quick
), per_run AS (
  SELECT run, name, coalesce(unit, '') AS unit, coalesce(labels::VARCHAR, '{}') AS labels,
         any_value(labels->>'better') AS better, avg(value) AS value
  FROM metrics
  WHERE run IN (SELECT latest FROM pairs UNION SELECT previous FROM pairs)
    AND NOT ((labels->>'ratio') IS NOT NULL OR unit = 'x'
             OR (name LIKE '%ratio%' AND unit LIKE '%_/_%' AND unit NOT LIKE '%/s'))
  GROUP BY ALL
), figures AS (
  SELECT p.bench, p.host, n.name, n.unit, n.labels, median(o.value) AS median_before,
         min(o.value) AS lo, max(o.value) AS hi,
         count(*) AS baseline_runs, any_value(n.value) AS now,
         coalesce(any_value(n.better),
           CASE WHEN lower(n.unit) IN ('1/s', 'iops', 'ops/s', 'req/s', 'b/s', 'kib/s', 'mib/s',
                                       'gib/s', 'mb/s', 'gb/s') THEN 'higher'
                WHEN lower(n.unit) IN ('ns', 'us', 'µs', 'ms', 's', 's/gib') THEN 'lower'
                WHEN n.name LIKE '%hit_ratio' THEN 'higher'
                WHEN n.name LIKE '%miss_ratio' THEN 'lower' END) AS better
  FROM pairs p
  JOIN per_run n ON n.run = p.latest
  JOIN per_run o ON o.run = p.previous AND o.name = n.name AND o.unit = n.unit
                 AND o.labels = n.labels
  GROUP BY p.bench, p.host, n.name, n.unit, n.labels
), based AS (
  -- the least favourable of the previous runs: a regression is a step beyond their spread
  SELECT *, CASE better WHEN 'higher' THEN lo WHEN 'lower' THEN hi ELSE median_before END AS before
  FROM figures
)
SELECT bench, host,
       trim(name || ' ' || array_to_string(list_transform(json_keys(labels::JSON),
         k -> k || '=' || (labels::JSON->>k)), ' ')) AS figure,
       unit, better, baseline_runs, before, median_before, now,
       round(100 * (now - before) / abs(before), 2) AS change_pct,
       round(CASE better WHEN 'higher' THEN -100 * (now - before) / abs(before)
                         ELSE 100 * (now - before) / abs(before) END, 2) AS worse_pct
FROM based
WHERE better IN ('higher', 'lower') AND before IS NOT NULL AND before <> 0 AND now IS NOT NULL
ORDER BY worse_pct DESC, bench, figure;
