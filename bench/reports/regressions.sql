-- Regressions against the peer: each ratio row of a benchmark's latest run (hvkit over its peer, both measured in that run) against the same ratio in its previous runs on the same host.
-- A ratio cancels what the machine's load does to both sides, so this is what
-- `--check-regressions PCT` fails on (CI: 20%). worse_pct > 0 means worse, by labels.better
-- (higher|lower), which every ratio row carries (bench/README.md); a ratio row without it is
-- listed with better "unlabelled" and not checked; one labelled gate "report" (a tail-latency
-- ratio of short runs) is listed and never fails. "before" is the least favourable of the up to 3
-- previous runs of the same size (args.quick, where recorded): a regression is a step beyond
-- their spread, not one noisy run. median_before is their median.
-- Absolute figures: regressions_absolute.
-- chart: bar x=figure y=worse_pct facet=bench title="Ratio to the peer against the previous run (positive = worse)" unit=%
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
    AND ((labels->>'ratio') IS NOT NULL OR unit = 'x'
         OR (name LIKE '%ratio%' AND unit LIKE '%_/_%' AND unit NOT LIKE '%/s'))
  GROUP BY ALL
), figures AS (
  SELECT p.bench, p.host, n.name, n.unit, n.labels, median(o.value) AS median_before,
         min(o.value) AS lo, max(o.value) AS hi,
         count(*) AS baseline_runs, any_value(n.value) AS now,
         CASE WHEN any_value(n.better) IN ('higher', 'lower') THEN any_value(n.better)
              ELSE 'unlabelled' END AS better,
         coalesce(any_value(n.labels::JSON->>'gate'), 'fail') AS gate
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
       trim(name || ' ' || array_to_string(list_transform(
         list_filter(json_keys(labels::JSON), k -> k NOT IN ('better', 'peer', 'gate')),
         k -> k || '=' || (labels::JSON->>k)), ' ')) AS figure,
       unit, better, gate, baseline_runs, before, median_before, now,
       round(100 * (now - before) / abs(before), 2) AS change_pct,
       round(CASE better WHEN 'higher' THEN -100 * (now - before) / abs(before)
                         WHEN 'lower' THEN 100 * (now - before) / abs(before) END, 2) AS worse_pct
FROM based
WHERE before IS NOT NULL AND before <> 0 AND now IS NOT NULL
ORDER BY worse_pct DESC NULLS LAST, bench, figure;
