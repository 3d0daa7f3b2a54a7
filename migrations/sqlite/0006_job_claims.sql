-- Job firings survive a crash between claim and run creation (keep in step with
-- ../postgres/0006_job_claims.sql). A claim records the run id it will start (last_run_id) and
-- the instance that claimed it; a firing still `running` whose run does not exist and whose
-- claimer is gone is re-fired as that same run at the next start.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT NULL;
