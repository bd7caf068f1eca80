-- Conversations /roles rendered, so its buttons (edit, live run, other template) work after a restart.
CREATE TABLE roles_conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old button must not open a newer conversation
    platform    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    template    TEXT NOT NULL,
    messages    TEXT NOT NULL,  -- JSON: [[role, content], ...]
    created_at  REAL NOT NULL
);
CREATE INDEX roles_conversations_created ON roles_conversations (created_at);
CREATE INDEX roles_conversations_user ON roles_conversations (platform, user_id);
