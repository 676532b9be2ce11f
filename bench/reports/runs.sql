-- The latest runs of every tool: what ran, when, how it ended.
SELECT tool, command, status,
       strftime(started, '%Y-%m-%d %H:%M:%S') AS started,
       round(epoch(finished) - epoch(started), 3) AS seconds,
       git_rev
FROM runs
ORDER BY started DESC
LIMIT 50;
