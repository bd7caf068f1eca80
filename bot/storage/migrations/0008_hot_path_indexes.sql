-- Indexes for every query on a hot path (tests/test_query_plans.py checks each statement's plan):
-- without them a query's cost grew with everything stored, or with the square of a class.

-- Standings ("my rank", each question's results, the final leaderboard, exports): one player's
-- answers in a session. The unique (session_id, position, user_id) index made each player's
-- lookup read the whole session's answers (3,000 players: 13.7 s; with this index, 23 ms).
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
-- A person's answers per assignment (was by person alone: each assignment re-read all of them).
DROP INDEX homework_answers_user;
CREATE INDEX homework_answers_user ON homework_answers (user_id, assignment_id);
CREATE INDEX homework_assignments_creator ON homework_assignments (platform, created_by);

-- A channel's latest quiz (/quiz results after it ended).
CREATE INDEX quiz_sessions_place ON quiz_sessions (platform, workspace_id, channel_id, thread_id, id);

-- The timers' ticks read only what is still pending, never the whole history.
CREATE INDEX quiz_questions_unannounced ON quiz_questions (session_id, position)
    WHERE closed_at IS NOT NULL AND announced_at IS NULL;
CREATE INDEX quiz_sessions_final_pending ON quiz_sessions (id)
    WHERE ended_at IS NOT NULL AND final_announced_at IS NULL;
CREATE INDEX homework_assignments_deadline_pending ON homework_assignments (due_at)
    WHERE deadline_posted_at IS NULL;
CREATE INDEX homework_assignments_reminder_pending ON homework_assignments (remind_at)
    WHERE reminded_at IS NULL AND remind_at IS NOT NULL;
CREATE INDEX homework_assignments_closing ON homework_assignments (closes_at);

-- Homework answers not yet in their thread. A revision replaced before it was posted is marked
-- posted with the one that replaced it (HomeworkRepository.mark_posted), so this index holds only
-- the work still in flight; here the same is done for what earlier versions left behind.
UPDATE homework_answers SET posted_at = (
    SELECT MIN(b.posted_at) FROM homework_answers b
    WHERE b.assignment_id = homework_answers.assignment_id AND b.position = homework_answers.position
      AND b.user_id = homework_answers.user_id AND b.revision > homework_answers.revision
      AND b.posted_at IS NOT NULL)
WHERE posted_at IS NULL;
CREATE INDEX homework_answers_unposted ON homework_answers (assignment_id, position, user_id, revision)
    WHERE posted_at IS NULL;

-- A player's place in join order (what an anonymous quiz's nickname is drawn from), stored when
-- they join: counting the earlier players on every click cost as much as the class was large.
-- Never renumbered, so a nickname stays the same all quiz long (also after someone is forgotten).
ALTER TABLE quiz_players ADD COLUMN ordinal INTEGER;
UPDATE quiz_players SET ordinal = numbered.n FROM (
    SELECT rowid AS id, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY joined_at, rowid) - 1 AS n
    FROM quiz_players) AS numbered
WHERE quiz_players.rowid = numbered.id;
CREATE UNIQUE INDEX quiz_players_ordinal ON quiz_players (session_id, ordinal);
