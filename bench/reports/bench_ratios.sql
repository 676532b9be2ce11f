-- hvkit against each peer, measured in the same run: the ratio rows of every benchmark's latest run.
-- A ratio row carries labels.ratio ("hvkit/fio"); above 1 means hvkit produced more of the figure.
-- chart: bar x=case y=value series=ratio facet=bench title="Ratio to the peer" unit=x
WITH latest AS (
  SELECT command AS bench, arg_max(id, started) AS run
  FROM runs WHERE tool = 'bench' AND status = 'ok' GROUP BY command
), r AS (
  SELECT l.bench, m.name AS metric, m.labels->>'ratio' AS ratio, m.value,
         json_merge_patch(m.labels, '{"ratio":null,"better":null,"peer":null}') AS rest
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE m.labels->>'ratio' IS NOT NULL
)
SELECT bench, metric, ratio,
       trim(metric || ' ' || array_to_string(
         list_transform(json_keys(rest), k -> k || '=' || (rest->>k)), ' ')) AS "case",
       value
FROM r
ORDER BY bench, metric, "case";
