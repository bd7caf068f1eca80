-- The provider's rate limit, the line and the class's budget shared by every process (see
-- ../0016_llm_shared_limits.sql and bot/llm/shared.py).
CREATE TABLE llm_rate_slots (
    queue_key   TEXT NOT NULL,            -- the line: server address and model
    slot        BIGINT NOT NULL,          -- 0 .. per_minute - 1
    started_at  DOUBLE PRECISION NOT NULL,  -- epoch seconds of the last call this slot started
    PRIMARY KEY (queue_key, slot)
);

CREATE TABLE llm_queue_waiters (
    ticket      TEXT PRIMARY KEY,
    queue_key   TEXT NOT NULL,
    process     TEXT NOT NULL,
    joined_at   DOUBLE PRECISION NOT NULL,  -- epoch seconds
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX llm_queue_waiters_line ON llm_queue_waiters (queue_key, joined_at);

CREATE TABLE llm_budget_holds (
    hold          TEXT PRIMARY KEY,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    day           DOUBLE PRECISION NOT NULL,  -- the budget day: midnight UTC, epoch seconds
    tokens        BIGINT NOT NULL,
    expires_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX llm_budget_holds_class ON llm_budget_holds (platform, workspace_id, day);

-- Adapters' hand-offs between processes (see ../0016_llm_shared_limits.sql).
CREATE TABLE pending_uploads (
    platform      TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    command       TEXT NOT NULL,
    args          TEXT NOT NULL,
    expires_at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, channel_id, message_id)
);

CREATE TABLE platform_deliveries (
    platform     TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    seen_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, delivery_id)
);
CREATE INDEX platform_deliveries_age ON platform_deliveries (seen_at);

CREATE TABLE llm_cooldowns (
    platform    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    started_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, user_id)
);
