-- Imported quiz banks belong to the class that imported them (a Discord guild, a Slack team,
-- the console): 0003 keyed them by name alone, so one server's import was every server's.
CREATE TABLE quiz_class_banks (
    platform     TEXT NOT NULL,
    workspace_id TEXT NOT NULL,          -- the class; '' for an import no class has claimed
    name         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content      BYTEA NOT NULL,         -- the file as uploaded, parsed again on use
    imported_by  TEXT NOT NULL,
    imported_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, workspace_id, name)
);

-- An import a class already played or assigned stays with that class (each one gets its copy).
INSERT INTO quiz_class_banks (platform, workspace_id, name, filename, content, imported_by, imported_at)
SELECT used.platform, used.workspace_id, b.name, b.filename, b.content, b.imported_by, b.imported_at
FROM quiz_banks b
JOIN (SELECT platform, workspace_id, bank_name FROM quiz_sessions
      UNION SELECT platform, workspace_id, bank_name FROM homework_assignments) used
  ON used.bank_name = b.name;

-- The others are kept, owned by no class.
INSERT INTO quiz_class_banks (platform, workspace_id, name, filename, content, imported_by, imported_at)
SELECT '', '', name, filename, content, imported_by, imported_at FROM quiz_banks
WHERE name NOT IN (SELECT bank_name FROM quiz_sessions UNION SELECT bank_name FROM homework_assignments);

DROP TABLE quiz_banks;
