-- Every figure of the latest run of each (tool, command).
WITH latest AS (
  SELECT tool, command, arg_max(id, started) AS run FROM runs WHERE status = 'ok' GROUP BY ALL
)
SELECT l.tool, l.command, m.name, m.value, m.unit, m.labels::VARCHAR AS labels
FROM latest l JOIN metrics m ON m.run = l.run
ORDER BY l.tool, l.command, m.name;
