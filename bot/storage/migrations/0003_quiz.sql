-- Live quizzes: banks instructors imported, sessions, questions with their stored
-- closing time (timers survive a restart), players and answers.

CREATE TABLE quiz_banks (
    name         TEXT PRIMARY KEY,
    filename     TEXT NOT NULL,
    content      BLOB NOT NULL,          -- the file as uploaded, parsed again on use
    imported_by  TEXT NOT NULL,
    imported_at  REAL NOT NULL
);

CREATE TABLE quiz_sessions (
    id                 INTEGER PRIMARY KEY,
    platform           TEXT NOT NULL,
    workspace_id       TEXT NOT NULL,
    channel_id         TEXT NOT NULL,
    thread_id          TEXT NOT NULL,
    bank_name          TEXT NOT NULL,
    snapshot           TEXT NOT NULL,    -- JSON: title and questions in play order, fixed at start
    locale             TEXT NOT NULL,    -- language of the channel posts (the instructor's)
    change_rule        TEXT NOT NULL CHECK (change_rule IN ('never', 'once', 'free')),
    speed_bonus        INTEGER NOT NULL,
    streaks            INTEGER NOT NULL,
    anonymous          INTEGER NOT NULL,
    started_by         TEXT NOT NULL,
    started_at         REAL NOT NULL,
    ended_at           REAL,
    final_announced_at REAL
);
-- One running quiz per channel.
CREATE UNIQUE INDEX quiz_one_running_per_channel
    ON quiz_sessions (platform, workspace_id, channel_id, thread_id) WHERE ended_at IS NULL;

CREATE TABLE quiz_questions (
    session_id    INTEGER NOT NULL REFERENCES quiz_sessions (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,       -- 0-based index into the snapshot
    opened_at     REAL NOT NULL,
    closes_at     REAL NOT NULL,          -- the timer: compared with the clock, never slept on
    closed_at     REAL,
    announced_at  REAL,                   -- results posted (may lag closed_at while the platform is down)
    message_id    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, position)
);
CREATE INDEX quiz_questions_open ON quiz_questions (closes_at) WHERE closed_at IS NULL;

CREATE TABLE quiz_players (
    session_id    INTEGER NOT NULL REFERENCES quiz_sessions (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    joined_at     REAL NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE quiz_answers (
    session_id    INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    user_id       TEXT NOT NULL,
    choice        INTEGER NOT NULL,       -- 0 = A
    answered_at   REAL NOT NULL,
    changes       INTEGER NOT NULL DEFAULT 0,
    correct       INTEGER,                -- set when the question closes
    points        INTEGER NOT NULL DEFAULT 0,
    -- One answer per student and question, whatever the clicks.
    UNIQUE (session_id, position, user_id),
    FOREIGN KEY (session_id, position) REFERENCES quiz_questions (session_id, position) ON DELETE CASCADE
);
