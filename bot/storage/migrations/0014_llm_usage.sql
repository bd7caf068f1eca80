-- The class's daily token budget, one path for every provider call (/compare, /next, live /roles,
-- and `aula compare` / `aula next` as the class "cli"/"local"): a running total per class and UTC
-- day. Reading what a class spent today is one primary-key lookup, whatever it did today (summing
-- each comparison's or step's row read more rows the busier the class), and a restart keeps it
-- (live /roles' usage was counted in memory only). Forgetting a person (/privacy) does not give
-- their tokens back to the class: they were spent.
CREATE TABLE llm_usage (
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,          -- the class: a Discord guild, a Slack team
    day           REAL NOT NULL,          -- the budget day: midnight UTC, epoch seconds
    tokens        INTEGER NOT NULL,       -- prompt + completion tokens of the calls really sent
    PRIMARY KEY (platform, workspace_id, day)
) WITHOUT ROWID;

INSERT INTO llm_usage (platform, workspace_id, day, tokens)
SELECT platform, workspace_id, day, SUM(tokens) FROM (
    SELECT r.platform, r.workspace_id, CAST(r.at / 86400 AS INTEGER) * 86400.0 AS day,
           o.prompt_tokens + o.completion_tokens AS tokens
    FROM compare_outputs o JOIN compare_runs r ON r.id = o.run_id WHERE o.shared = 0
    UNION ALL
    SELECT platform, workspace_id, CAST(at / 86400 AS INTEGER) * 86400.0, tokens FROM next_usage
) GROUP BY platform, workspace_id, day;

DROP TABLE next_usage;
