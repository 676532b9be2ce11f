-- Engine IOPS against the cache's hit IOPS: daio and fio on the device, qbic-cache serve and its
-- NBD peers (qemu-nbd, nbdkit) in front of it; the latest run of each benchmark and tool.
-- chart: bar x=job y=iops series=source title="IOPS: engine and cache, per peer" unit=1/s
WITH latest AS (
  SELECT tool, command, arg_max(id, started) AS run FROM runs
  WHERE status = 'ok' AND ((tool = 'bench' AND command IN ('daio-vs-fio', 'daio-bridge', 'nbd'))
                           OR (tool = 'daio' AND command = 'bench')
                           OR (tool = 'qbic-cache' AND command IN ('serve', 'bench')))
  GROUP BY ALL
)
SELECT CASE WHEN l.tool = 'bench' THEN 'bench ' || l.command ELSE l.tool || ' ' || l.command END
         AS "from",
       coalesce((m.labels->>'peer'), (m.labels->>'engine'), (m.labels->>'server'), (m.labels->>'impl'),
                (m.labels->>'side'),
                CASE WHEN l.tool = 'bench' THEN 'hvkit' ELSE l.tool END) AS source,
       coalesce((m.labels->>'job'),
                concat_ws('-', (m.labels->>'rw'), (m.labels->>'bs'), 'qd' || (m.labels->>'iodepth')),
                '') || coalesce(' ' || (m.labels->>'direction'), '') AS job,
       round(m.value) AS iops
FROM latest l JOIN metrics m ON m.run = l.run
WHERE m.name = 'iops' AND m.unit = '1/s'
ORDER BY job, source;
