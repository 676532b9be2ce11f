-- hvkit against each peer, measured in the same run: the ratio rows of every benchmark's latest run.
-- A ratio row has labels.ratio ("hvkit/fio"), unit x, or a name with "ratio" and a unit naming the
-- division ("daio/fio"); above 1 means hvkit's figure is the larger one.
-- chart: bar x=what y=value series=case facet=bench title="Ratio to the peer" unit=x
WITH latest AS (
  SELECT command AS bench, arg_max(id, started) AS run
  FROM runs WHERE tool = 'bench' AND status = 'ok' GROUP BY command
), r AS (
  SELECT l.bench, m.name AS metric, m.value,
         coalesce((m.labels->>'ratio'),
                  CASE WHEN m.unit LIKE '%_/_%' THEN m.unit END,
                  CASE WHEN m.name LIKE '%\_vs\_%' ESCAPE '\'
                       THEN 'hvkit/' || regexp_extract(m.name, '_vs_(.*)$', 1) END,
                  CASE WHEN regexp_matches(m.name, 'ratio_\w+_to_\w+$')
                       THEN regexp_replace(regexp_extract(m.name, 'ratio_(\w+)$', 1), '_to_', '/')
                  END,
                  coalesce((m.labels->>'server'), (m.labels->>'engine'), (m.labels->>'impl'), 'hvkit')
                    || '/' || (m.labels->>'peer'),
                  m.unit) AS ratio,
         -- the case: the other labels (server/engine/impl name hvkit's side when no labels.ratio)
         json_merge_patch(coalesce(m.labels, '{}'),
           CASE WHEN (m.labels->>'ratio') IS NOT NULL
                THEN '{"ratio":null,"better":null,"peer":null,"gate":null}'
                ELSE '{"better":null,"peer":null,"gate":null,"server":null,"engine":null,"impl":null}'
           END) AS rest
  FROM latest l JOIN metrics m ON m.run = l.run
  WHERE (m.labels->>'ratio') IS NOT NULL OR m.unit = 'x'
     OR (m.name LIKE '%ratio%' AND m.unit LIKE '%_/_%' AND m.unit NOT LIKE '%/s')
)
SELECT bench, metric, ratio, metric || ' ' || ratio AS what,
       coalesce(nullif(array_to_string(
         list_transform(json_keys(rest), k -> k || '=' || (rest->>k)), ' '), ''), metric) AS "case",
       value
FROM r
ORDER BY bench, metric, ratio, "case";
