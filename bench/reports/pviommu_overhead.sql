-- PVIOMMU's checked DMA against an unchecked copy of the same bytes: ns per 4 KiB and the overhead.
-- From the latest bench pviommu run; overhead_pct = checked / unchecked - 1, in percent.
-- chart: bar x=dir y=ns series=path title="Checked vs unchecked DMA, ns per 4 KiB" unit=ns
WITH latest AS (
  SELECT arg_max(id, started) AS run FROM runs
  WHERE tool = 'bench' AND command = 'pviommu' AND status = 'ok'
)
SELECT (m.labels->>'dir') AS dir, (m.labels->>'ram') AS ram,
       CASE WHEN m.name LIKE '%unchecked%' THEN 'unchecked' ELSE 'checked' END AS path,
       round(m.value, 1) AS ns,
       round((SELECT max(o.value) FROM metrics o
              WHERE o.run = m.run AND o.name = 'dma.overhead'
                AND (o.labels->>'dir') = (m.labels->>'dir')), 1) AS overhead_pct
FROM latest l JOIN metrics m ON m.run = l.run
WHERE m.name IN ('dma.checked_ns', 'dma.unchecked_ns')
ORDER BY dir, path;
