-- PDC end to end, latest bench pdc run: guest throughput with each PDC variant over the same
-- workload with --admit all (median of the per-repetition ratios, their range beside), per workload,
-- policy and cache size, with the host-side read hit ratio of both (replayed over each leg's
-- own stream, median over the repetitions).
-- chart: bar x=cell y=ops_s_ratio series=admit title="Guest ops/s with PDC over without" unit=x
WITH latest AS (
  SELECT arg_max(id, started) AS run FROM runs
  WHERE tool = 'bench' AND command = 'pdc' AND status = 'ok'
), m AS (
  SELECT (m.labels->>'job') AS workload, (m.labels->>'policy') AS policy,
         (m.labels->>'cache') AS cache, (m.labels->>'admit') AS admit,
         (m.labels->>'rep') AS rep, (m.labels->>'replay') AS replay, m.name, m.value
  FROM latest l JOIN metrics m ON m.run = l.run
), ratio AS (
  SELECT workload, policy, cache, admit,
         max(value) FILTER (WHERE name = 'ops_s_ratio') AS ops_s_ratio,
         max(value) FILTER (WHERE name = 'ops_s_ratio_min') AS ratio_min,
         max(value) FILTER (WHERE name = 'ops_s_ratio_max') AS ratio_max
  FROM m WHERE name LIKE 'ops_s_ratio%' GROUP BY ALL
), legs AS (
  SELECT workload, policy, cache, admit,
         max(value) FILTER (WHERE name = 'ops_s' AND rep = 'median') AS ops_s,
         median(value) FILTER (WHERE name = 'read_hit_ratio' AND rep <> 'median' AND (
           (admit = 'all' AND replay = 'none') OR (admit = 'pdc' AND replay = 'exact') OR
           (admit = 'pdc-' || replay))) AS read_hit
  FROM m GROUP BY ALL
)
SELECT r.workload, r.policy, r.cache, r.workload || ' ' || r.policy || ' ' || r.cache AS cell,
       r.admit, round(a.ops_s, 2) AS ops_s_all, round(v.ops_s, 2) AS ops_s_admit,
       round(r.ops_s_ratio, 3) AS ops_s_ratio,
       round(r.ratio_min, 3) AS ratio_min, round(r.ratio_max, 3) AS ratio_max,
       round(a.read_hit, 4) AS read_hit_all, round(v.read_hit, 4) AS read_hit_admit
FROM ratio r
JOIN legs a ON a.workload = r.workload AND a.policy = r.policy AND a.cache = r.cache
           AND a.admit = 'all'
JOIN legs v ON v.workload = r.workload AND v.policy = r.policy AND v.cache = r.cache
           AND v.admit = r.admit
ORDER BY r.workload, r.policy, r.cache, r.admit;
