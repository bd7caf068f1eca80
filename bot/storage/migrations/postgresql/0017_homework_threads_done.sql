-- Assignments with a discussion thread still to open, found without JSON or reading the settled
-- ones: how many questions an assignment has (fixed when assigned, like its snapshot), and when
-- every question's thread was open. The timers' tick reads only the assignments still missing one
-- (a partial index), in SQL both SQLite and PostgreSQL run.
ALTER TABLE homework_assignments ADD COLUMN question_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE homework_assignments ADD COLUMN threads_done_at DOUBLE PRECISION;
UPDATE homework_assignments SET question_count = COALESCE(json_array_length((snapshot::json) -> 'questions'), 0);
UPDATE homework_assignments SET threads_done_at = created_at
WHERE question_count <= (SELECT COUNT(*) FROM homework_threads t
                         WHERE t.assignment_id = homework_assignments.id AND t.thread_id != '');
CREATE INDEX homework_assignments_threads_pending ON homework_assignments (closes_at)
    WHERE threads_done_at IS NULL;
