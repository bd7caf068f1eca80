-- Indexes for /next's statements that read more than they need (see ../0013_next_indexes.sql).
CREATE INDEX next_guesses_user ON next_guesses (platform, user_id);
CREATE INDEX next_rounds_channel ON next_rounds (platform, workspace_id, channel_id, closes_at);
