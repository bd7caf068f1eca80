-- The class's daily token budget: a running total per class and UTC day (see ../0014_llm_usage.sql).
CREATE TABLE llm_usage (
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,          -- the class: a Discord guild, a Slack team
    day           DOUBLE PRECISION NOT NULL,  -- the budget day: midnight UTC, epoch seconds
    tokens        BIGINT NOT NULL,        -- prompt + completion tokens of the calls really sent
    PRIMARY KEY (platform, workspace_id, day)
);

-- floor(), not CAST(... AS BIGINT): PostgreSQL's cast rounds, SQLite's truncates (the same for
-- the positive times stored here).
INSERT INTO llm_usage (platform, workspace_id, day, tokens)
SELECT platform, workspace_id, day, SUM(tokens) FROM (
    SELECT r.platform, r.workspace_id, floor(r.at / 86400) * 86400.0 AS day,
           o.prompt_tokens + o.completion_tokens AS tokens
    FROM compare_outputs o JOIN compare_runs r ON r.id = o.run_id WHERE o.shared = 0
    UNION ALL
    SELECT platform, workspace_id, floor(at / 86400) * 86400.0, tokens FROM next_usage
) AS spent GROUP BY platform, workspace_id, day;

DROP TABLE next_usage;
