-- virtav scans: detections per scan and time per GiB, the latest 30 scans (newest first).
-- Time per GiB is the scan's wall time over the bytes it scanned (signature loading excluded).
-- bench virtav runs are listed too ("bench virtav ..."): their time is the benchmark's wall time
-- of `virtav scan` on its generated image, signature loading included, so it reads higher.
-- chart: bar x=scan y=seconds_per_gib title="virtav: seconds per GiB scanned" unit=s/GiB
WITH scans AS (
  SELECT r.id, r.started, r.status,
         coalesce(array_to_string(json_extract_string(r.args, '$.paths[*]'), ' '), '') AS paths,
         max(m.value) FILTER (WHERE m.name = 'detections') AS detections,
         max(m.value) FILTER (WHERE m.name = 'bytes_scanned') AS bytes,
         max(m.value) FILTER (WHERE m.name = 'scan_seconds') AS seconds,
         max(m.value) FILTER (WHERE m.name = 'signatures') AS signatures
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'virtav' AND r.command = 'scan'
  GROUP BY r.id, r.started, r.status, r.args
  UNION ALL
  SELECT r.id, r.started, r.status, 'bench virtav ' || any_value(m.labels->>'size_mib') || ' MiB',
         max(TRY_CAST((m.labels->>'virtav') AS DOUBLE)) FILTER (WHERE m.name = 'detections_identical'),
         max(TRY_CAST((m.labels->>'size_mib') AS DOUBLE) * 1048576)
           FILTER (WHERE m.name = 'virtav_throughput'),
         max(TRY_CAST((m.labels->>'size_mib') AS DOUBLE) / m.value)
           FILTER (WHERE m.name = 'virtav_throughput'),
         max(TRY_CAST((m.labels->>'sigs') AS DOUBLE)) FILTER (WHERE m.name = 'virtav_throughput')
  FROM runs r JOIN metrics m ON m.run = r.id
  WHERE r.tool = 'bench' AND r.command = 'virtav'
  GROUP BY r.id, r.started, r.status
)
SELECT strftime(started, '%m-%d %H:%M:%S') || ' ' || left(regexp_replace(paths, '(^| )\S*/', '\1', 'g'), 24)
         AS scan,
       status, detections::BIGINT AS detections, signatures::BIGINT AS signatures,
       round(bytes / 1073741824, 4) AS gib, round(seconds, 3) AS seconds,
       round(seconds / nullif(bytes / 1073741824, 0), 2) AS seconds_per_gib,
       round(bytes / 1048576 / nullif(seconds, 0), 1) AS mib_per_s
FROM scans
ORDER BY started DESC
LIMIT 30;
