-- When a job was first scheduled by any process: a job that has never succeeded is stalled only once its period
-- (plus grace) has passed since then, so a freshly installed node is healthy, not 503, until its jobs are due.
ALTER TABLE job_runs ADD COLUMN scheduled_since TEXT;
