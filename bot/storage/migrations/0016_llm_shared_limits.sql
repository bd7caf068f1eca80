-- The provider's rate limit and the class's daily token budget, shared by every Aula process on
-- one database (the provider counts per key, not per process). bot/llm/shared.py reads and writes
-- these; a process alone on SQLite keeps them in memory unless llm.shared_limits is on.
--
-- One row per rate-limit slot of a model's line: `per_minute` rows, each holding when its last
-- call started. A call may start only by moving a slot whose last start is a minute old (one
-- conditional UPDATE), so in any 60 seconds each slot starts at most one call, whichever process.
CREATE TABLE llm_rate_slots (
    queue_key   TEXT NOT NULL,            -- the line: server address and model
    slot        INTEGER NOT NULL,         -- 0 .. per_minute - 1
    started_at  REAL NOT NULL,            -- epoch seconds of the last call this slot started
    PRIMARY KEY (queue_key, slot)
);

-- Calls waiting in line in any process, so the place a student sees counts everyone ahead, and the
-- oldest waiter, wherever it is, goes first. A process renews its waiters' expiry while it lives;
-- those of a process that died stop counting when it passes.
CREATE TABLE llm_queue_waiters (
    ticket      TEXT PRIMARY KEY,
    queue_key   TEXT NOT NULL,
    process     TEXT NOT NULL,
    joined_at   REAL NOT NULL,            -- epoch seconds
    expires_at  REAL NOT NULL
);
CREATE INDEX llm_queue_waiters_line ON llm_queue_waiters (queue_key, joined_at);

-- The class's tokens reserved by calls in flight (the worst case each may spend), beside what
-- calls used (llm_usage). A reservation is checked and taken under the class's llm_usage row lock;
-- one left by a process that died stops counting at its expiry.
CREATE TABLE llm_budget_holds (
    hold          TEXT PRIMARY KEY,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    day           REAL NOT NULL,          -- the budget day: midnight UTC, epoch seconds
    tokens        INTEGER NOT NULL,
    expires_at    REAL NOT NULL
);
CREATE INDEX llm_budget_holds_class ON llm_budget_holds (platform, workspace_id, day);

-- What an adapter must find whichever process the platform's next request reaches (Slack's HTTP
-- workers behind a load balancer, or its Socket Mode connections): a command waiting for a file
-- in its reply's thread (/dataset on Slack), and the deliveries already answered, so a
-- redelivered event is answered once (bot/storage/handoffs.py). Short-lived rows.
CREATE TABLE pending_uploads (
    platform      TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    message_id    TEXT NOT NULL,          -- the reply whose thread takes the file
    workspace_id  TEXT NOT NULL,
    command       TEXT NOT NULL,
    args          TEXT NOT NULL,          -- the command's options, JSON
    expires_at    REAL NOT NULL,          -- epoch seconds
    PRIMARY KEY (platform, channel_id, message_id)
);

CREATE TABLE platform_deliveries (
    platform     TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,           -- Slack's event_id
    seen_at      REAL NOT NULL,           -- epoch seconds
    PRIMARY KEY (platform, delivery_id)
);
CREATE INDEX platform_deliveries_age ON platform_deliveries (seen_at);

-- When each student's last live LLM request started (llm.user_cooldown_s), for every process: a
-- student whose requests reach two processes (Slack's HTTP workers) waits the same cooldown.
CREATE TABLE llm_cooldowns (
    platform    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    started_at  REAL NOT NULL,            -- epoch seconds
    PRIMARY KEY (platform, user_id)
);
