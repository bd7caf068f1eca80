-- Indexes for every query on a hot path (see ../0008_hot_path_indexes.sql for why each exists).

CREATE INDEX quiz_answers_player ON quiz_answers (session_id, user_id);

-- /privacy: a person's rows on one platform (counted and deleted).
CREATE INDEX command_log_user ON command_log (platform, user_id);
CREATE INDEX quiz_sessions_starter ON quiz_sessions (platform, started_by);
CREATE INDEX quiz_players_user ON quiz_players (user_id);
CREATE INDEX compare_runs_user ON compare_runs (platform, user_id);
CREATE INDEX compare_votes_user ON compare_votes (platform, user_id);
CREATE INDEX homework_reminders_user ON homework_reminders (user_id);
CREATE INDEX homework_students_user ON homework_students (platform, user_id);
CREATE INDEX homework_optouts_user ON homework_reminder_optouts (platform, user_id);
DROP INDEX homework_answers_user;
CREATE INDEX homework_answers_user ON homework_answers (user_id, assignment_id);
CREATE INDEX homework_assignments_creator ON homework_assignments (platform, created_by);

CREATE INDEX quiz_sessions_place ON quiz_sessions (platform, workspace_id, channel_id, thread_id, id);

CREATE INDEX quiz_questions_unannounced ON quiz_questions (session_id, position)
    WHERE closed_at IS NOT NULL AND announced_at IS NULL;
CREATE INDEX quiz_sessions_final_pending ON quiz_sessions (id)
    WHERE ended_at IS NOT NULL AND final_announced_at IS NULL;
CREATE INDEX homework_assignments_deadline_pending ON homework_assignments (due_at)
    WHERE deadline_posted_at IS NULL;
CREATE INDEX homework_assignments_reminder_pending ON homework_assignments (remind_at)
    WHERE reminded_at IS NULL AND remind_at IS NOT NULL;
CREATE INDEX homework_assignments_closing ON homework_assignments (closes_at);

UPDATE homework_answers SET posted_at = (
    SELECT MIN(b.posted_at) FROM homework_answers b
    WHERE b.assignment_id = homework_answers.assignment_id AND b.position = homework_answers.position
      AND b.user_id = homework_answers.user_id AND b.revision > homework_answers.revision
      AND b.posted_at IS NOT NULL)
WHERE posted_at IS NULL;
CREATE INDEX homework_answers_unposted ON homework_answers (assignment_id, position, user_id, revision)
    WHERE posted_at IS NULL;

-- A player's place in join order (ties by user id: PostgreSQL has no rowid), never renumbered.
ALTER TABLE quiz_players ADD COLUMN ordinal BIGINT;
UPDATE quiz_players SET ordinal = numbered.n FROM (
    SELECT session_id, user_id, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY joined_at, user_id) - 1 AS n
    FROM quiz_players) AS numbered
WHERE quiz_players.session_id = numbered.session_id AND quiz_players.user_id = numbered.user_id;
CREATE UNIQUE INDEX quiz_players_ordinal ON quiz_players (session_id, ordinal);
