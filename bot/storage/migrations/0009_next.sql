-- /next: step-by-step runs (restart-proof buttons), the provider tokens they used (the class's daily
-- budget), and the class game's rounds and guesses.
CREATE TABLE next_runs (
    id            INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,          -- the owner: only they take steps; others fork
    user_name     TEXT NOT NULL,
    profile       TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('base', 'instruct')),
    prompt        TEXT NOT NULL,
    temperature   REAL NOT NULL,          -- of the sample button
    steps         TEXT NOT NULL,          -- JSON: each step's candidates and choice
    forked_from   INTEGER,
    updated_at    REAL NOT NULL
);
CREATE INDEX next_runs_user ON next_runs (platform, user_id);

CREATE TABLE next_usage (
    at            REAL NOT NULL,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    tokens        INTEGER NOT NULL        -- prompt + completion tokens of one provider call
);
CREATE INDEX next_usage_class ON next_usage (platform, workspace_id, at);

CREATE TABLE next_rounds (
    id            INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    thread_id     TEXT NOT NULL DEFAULT '',
    message_id    TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL,          -- the instructor who started it
    prompt        TEXT NOT NULL,
    model         TEXT NOT NULL,
    candidates    TEXT NOT NULL,          -- JSON: the model's distribution (hidden until the close)
    options       TEXT NOT NULL,          -- JSON: the guess buttons' texts, in their shown order
    closes_at     REAL NOT NULL,
    closed        INTEGER NOT NULL DEFAULT 0,
    locale        TEXT NOT NULL DEFAULT 'es'
);
CREATE INDEX next_rounds_open ON next_rounds (closed, closes_at);
CREATE INDEX next_rounds_class ON next_rounds (platform, workspace_id, at);

CREATE TABLE next_guesses (
    round_id      INTEGER NOT NULL REFERENCES next_rounds (id) ON DELETE CASCADE,
    platform      TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    guess         TEXT NOT NULL,
    probability   REAL NOT NULL,          -- what the model gave the guess: the score
    at            REAL NOT NULL,
    PRIMARY KEY (round_id, platform, user_id)
);
