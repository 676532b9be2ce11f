-- The last bench/run: every benchmark it found, how it ended and how long it took.
-- status: ok, failed (non-zero exit), no-run (exited 0 but recorded no run), timeout, skipped.
-- chart: bar x=bench y=seconds series=status title="Benchmark wall time, last bench/run" unit=s
WITH last AS (
  SELECT arg_max(id, started) AS run FROM runs WHERE tool = 'hvkit-bench' AND command = 'run'
)
SELECT (m.labels->>'bench') AS bench, (m.labels->>'status') AS status, round(m.value, 2) AS seconds,
       (m.labels->>'size') AS size, (m.labels->>'reason') AS reason
FROM last JOIN metrics m ON m.run = last.run
WHERE m.name = 'bench_seconds'
ORDER BY bench;
