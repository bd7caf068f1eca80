-- Indexes for /next's statements that read more than they need (tests/test_query_plans.py).

-- /privacy: a person's guesses on one platform (counted and deleted). The key starts with the
-- round, so without this every guess of every class was read.
CREATE INDEX next_guesses_user ON next_guesses (platform, user_id);

-- The game's standings in one channel: its closed rounds (closes_at up to now). next_rounds_class
-- has no channel, so each lookup read every round of the class.
CREATE INDEX next_rounds_channel ON next_rounds (platform, workspace_id, channel_id, closes_at);
