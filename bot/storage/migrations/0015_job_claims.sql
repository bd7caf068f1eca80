-- Jobs that must happen once whichever Aula process is alive: a question's timer (its countdown
-- refreshes and, once it closed, its results), a quiz's final leaderboard, a homework deadline,
-- its reminders, its answers' posts and threads, a /next round's results. A process claims a job's
-- key with its owner id and a lease (bot/storage/claims.py): one atomic upsert that takes the row
-- when it is absent, already its own, or its lease expired. The owner does the job, records it as
-- done in the job's own table (announced_at, deadline_posted_at, ...) and deletes the claim; an
-- owner that died leaves its claim until the lease expires, then another process takes it over.
CREATE TABLE job_claims (
    job         TEXT PRIMARY KEY,     -- e.g. quiz:question:12:3, quiz:final:12, homework:deadline:4
    owner       TEXT NOT NULL,        -- the process holding it: host:pid:random
    expires_at  REAL NOT NULL         -- epoch seconds by the app's clock; from then on anyone may take it
);
