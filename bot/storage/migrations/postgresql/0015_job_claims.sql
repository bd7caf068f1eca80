-- Jobs that must happen once whichever Aula process is alive (see ../0015_job_claims.sql): a
-- process claims a job's key with its owner id and a lease; an owner that died leaves its claim
-- until the lease expires, then another process takes it over.
CREATE TABLE job_claims (
    job         TEXT PRIMARY KEY,     -- e.g. quiz:question:12:3, quiz:final:12, homework:deadline:4
    owner       TEXT NOT NULL,        -- the process holding it: host:pid:random
    expires_at  DOUBLE PRECISION NOT NULL  -- epoch seconds by the app's clock; from then on anyone may take it
);
