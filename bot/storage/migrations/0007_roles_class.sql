-- /roles conversations: ids never reused, and the class each was written in.
-- 0005 was edited after release (AUTOINCREMENT added), so databases that ran its first
-- version still reuse ids: an old button could open a newer conversation. This rebuilds
-- the table for every database, and adds the class, so a conversation's buttons work
-- only in the class (Discord guild, Slack team) where it was written.
CREATE TABLE roles_conversations_by_class (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old button must not open a newer conversation
    platform     TEXT NOT NULL,
    workspace_id TEXT NOT NULL,  -- the class; '' for conversations kept from before this migration
    user_id      TEXT NOT NULL,
    template     TEXT NOT NULL,
    messages     TEXT NOT NULL,  -- JSON: [[role, content], ...]
    created_at   REAL NOT NULL
);

INSERT INTO roles_conversations_by_class (id, platform, workspace_id, user_id, template, messages, created_at)
SELECT id, platform, '', user_id, template, messages, created_at FROM roles_conversations ORDER BY id;

DROP TABLE roles_conversations;

ALTER TABLE roles_conversations_by_class RENAME TO roles_conversations;

CREATE INDEX roles_conversations_created ON roles_conversations (created_at);
CREATE INDEX roles_conversations_user ON roles_conversations (platform, user_id);
