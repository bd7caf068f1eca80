-- Homework: a bank's open questions assigned to a class with a deadline, every revision of
-- every answer, the discussion threads, reminders, and who the bot has met in each class.

CREATE TABLE homework_assignments (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: old buttons carry it
    platform           TEXT NOT NULL,
    workspace_id       TEXT NOT NULL,     -- the class: a Discord guild, a Slack team
    channel_id         TEXT NOT NULL,     -- where it was announced and its threads live
    bank_name          TEXT NOT NULL,
    snapshot           TEXT NOT NULL,     -- JSON: title and open questions, fixed when assigned
    locale             TEXT NOT NULL,     -- language of the channel posts (the instructor's)
    due_at             REAL NOT NULL,     -- the deadline: compared with the clock, never slept on
    closes_at          REAL NOT NULL,     -- late answers (flagged) are taken until then
    publish            TEXT NOT NULL CHECK (publish IN ('on_submit', 'at_deadline')),
    anonymous          INTEGER NOT NULL,
    remind_at          REAL,              -- NULL: no reminder
    created_by         TEXT NOT NULL,
    created_at         REAL NOT NULL,
    message_id         TEXT NOT NULL DEFAULT '',  -- the announcement
    deadline_posted_at REAL,              -- the deadline note went to the channel
    reminded_at        REAL               -- every reminder of this assignment went out
);
CREATE INDEX homework_assignments_class ON homework_assignments (platform, workspace_id, id);

CREATE TABLE homework_threads (
    assignment_id INTEGER NOT NULL REFERENCES homework_assignments (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,       -- 0-based index into the snapshot's questions
    message_id    TEXT NOT NULL,          -- the question's post in the channel
    thread_id     TEXT NOT NULL DEFAULT '',  -- '' until the thread could be opened
    PRIMARY KEY (assignment_id, position)
);

-- Append-only: a revision is a new row, so every version a student handed in is kept.
CREATE TABLE homework_answers (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES homework_assignments (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    user_id       TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    revision      INTEGER NOT NULL,       -- 1 for the first answer
    text          TEXT NOT NULL,          -- as typed; adapters escape it when showing it
    submitted_at  REAL NOT NULL,
    late          INTEGER NOT NULL,
    posted_at     REAL,                   -- shown in the question's discussion thread
    UNIQUE (assignment_id, position, user_id, revision)
);
CREATE INDEX homework_answers_user ON homework_answers (user_id);

-- Who the bot has met in a class (anyone who used /quiz there): whom to remind, who is missing.
CREATE TABLE homework_students (
    platform      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    locale        TEXT NOT NULL,
    is_instructor INTEGER NOT NULL,
    last_seen     REAL NOT NULL,
    PRIMARY KEY (platform, workspace_id, user_id)
);

CREATE TABLE homework_reminders (
    assignment_id INTEGER NOT NULL REFERENCES homework_assignments (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    sent_at       REAL NOT NULL,
    PRIMARY KEY (assignment_id, user_id)
);

CREATE TABLE homework_reminder_optouts (
    platform     TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    at           REAL NOT NULL,
    PRIMARY KEY (platform, workspace_id, user_id)
);
