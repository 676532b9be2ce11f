-- Every benchmark's latest run: each figure with the peer that produced it, its case and unit.
-- Bars per peer, one chart per benchmark and figure; ratio rows are in bench_ratios. The peer is
-- labels.peer (or engine, impl, server, scanner, mode), the case the other labels.
-- chart: bar x=peer y=value series=case facet=figure title="Latest run"
WITH latest AS (
  SELECT command AS bench, arg_max(id, started) AS run
  FROM runs WHERE tool = 'bench' AND status = 'ok' GROUP BY command
), figures AS (
  SELECT l.bench, m.name AS metric, m.value, m.unit,
         coalesce((m.labels->>'peer'), (m.labels->>'engine'), (m.labels->>'impl'),
                  (m.labels->>'server'), (m.labels->>'scanner'), (m.labels->>'mode'), (m.labels->>'side'), 'hvkit') AS peer,
         json_merge_patch(coalesce(m.labels, '{}'), '{"peer":null,"engine":null,"impl":null,
           "server":null,"scanner":null,"mode":null,"side":null,"better":null}') AS rest
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE (m.labels->>'ratio') IS NULL AND coalesce(m.unit, '') <> 'x'
    AND NOT (m.name LIKE '%ratio%' AND m.unit LIKE '%_/_%' AND m.unit NOT LIKE '%/s')
)
SELECT bench, metric, peer,
       array_to_string(list_transform(json_keys(rest), k -> k || '=' || (rest->>k)), ' ') AS "case",
       value, unit, bench || ' ' || metric || coalesce(' (' || nullif(unit, '') || ')', '') AS figure
FROM figures
ORDER BY bench, metric, "case", peer NOT IN ('hvkit', 'daio', 'qbic-cache', 'virtav', 'pviommu',
                                             'pdc', 'pdc-filter'), peer;
