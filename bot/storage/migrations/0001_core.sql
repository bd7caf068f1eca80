-- Users seen on any platform, and a log of commands (no message content).
CREATE TABLE users (
    platform     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    locale       TEXT NOT NULL,
    first_seen   REAL NOT NULL,
    last_seen    REAL NOT NULL,
    PRIMARY KEY (platform, user_id)
);

CREATE TABLE command_log (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    platform    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    command     TEXT NOT NULL,
    latency_ms  REAL NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX command_log_at ON command_log (at);
