-- QBic's experiment, latest bench/qbic run: per-VM latency and throughput as VMs are added.
-- N VMs (exports of one qbic-cache serve) on one modelled slow device, each running the same
-- mixed 4K workload; the cache off, LRU and QBic's policy at 0.5x and 1x the combined hot set.
-- chart: line x=vms y=p99_us series=config title="p99 latency per VM as VMs are added" unit=us
-- chart: line x=vms y=vm_iops series=config title="Mean IOPS per VM as VMs are added" unit=1/s
WITH latest AS (
  SELECT arg_max(id, started) AS run FROM runs
  WHERE tool = 'bench' AND command = 'qbic' AND status = 'ok'
)
SELECT CAST(m.labels->>'n' AS INTEGER) AS vms,
       (m.labels->>'policy') || ' ' || (m.labels->>'cache') AS config,
       max(CASE WHEN m.name = 'iops' THEN m.value END) AS vm_iops,
       max(CASE WHEN m.name = 'lat_p50' THEN m.value END) AS p50_us,
       max(CASE WHEN m.name = 'lat_p99' THEN m.value END) AS p99_us,
       max(CASE WHEN m.name = 'device_requests' THEN m.value END) AS device_requests,
       max(CASE WHEN m.name = 'hit_ratio' THEN m.value END) AS hit_ratio
FROM latest l JOIN metrics m ON m.run = l.run
WHERE m.name IN ('iops', 'lat_p50', 'lat_p99', 'device_requests', 'hit_ratio')
  AND (m.labels->>'n') IS NOT NULL AND (m.labels->>'vm') IS NULL
GROUP BY vms, config
ORDER BY config, vms;
