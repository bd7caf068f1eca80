-- /compare: every comparison (who, prompt, models, outputs, latency, usage, cost) and blind votes.
CREATE TABLE compare_runs (
    id            INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,          -- the class: a Discord guild, a Slack team
    channel_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    profile       TEXT NOT NULL,
    blind         INTEGER NOT NULL DEFAULT 0,
    instruct_slot TEXT CHECK (instruct_slot IN ('A', 'B')),  -- blind mode: where the instruct output is
    revealed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX compare_runs_class ON compare_runs (platform, workspace_id, at);

CREATE TABLE compare_outputs (
    run_id            INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
    role              TEXT NOT NULL CHECK (role IN ('base', 'instruct')),
    model             TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    text              TEXT NOT NULL,
    finish_reason     TEXT NOT NULL,      -- stop, length, interrupted, error
    interruption      TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT '',
    latency_s         REAL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    usage_estimated   INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    shared            INTEGER NOT NULL DEFAULT 0,  -- another request's call: costs this one nothing
    PRIMARY KEY (run_id, role)
);

CREATE TABLE compare_votes (
    run_id   INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    choice   TEXT NOT NULL CHECK (choice IN ('A', 'B')),  -- where the voter thinks the instruct output is
    at       REAL NOT NULL,
    PRIMARY KEY (run_id, platform, user_id)
);
