-- Every benchmark's latest run: each figure with the peer that produced it, its case and unit.
-- Bars per peer, one chart per benchmark and figure; ratio rows are in bench_ratios.
-- chart: bar x=peer y=value series=case facet=figure title="Latest run"
WITH latest AS (
  SELECT command AS bench, arg_max(id, started) AS run, max(started) AS started
  FROM runs WHERE tool = 'bench' AND status = 'ok' GROUP BY command
), figures AS (
  SELECT l.bench, l.started, m.name AS metric, m.value, m.unit,
         coalesce(m.labels->>'peer', m.labels->>'impl', 'hvkit') AS peer,
         json_merge_patch(coalesce(m.labels, '{}'),
                          '{"peer":null,"impl":null,"better":null}') AS rest
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE m.labels->>'ratio' IS NULL
)
SELECT bench, metric, peer,
       array_to_string(list_transform(json_keys(rest), k -> k || '=' || (rest->>k)), ' ') AS "case",
       value, unit, bench || ' ' || metric || coalesce(' (' || nullif(unit, '') || ')', '') AS figure
FROM figures
ORDER BY bench, metric, "case", peer <> 'hvkit', peer;
