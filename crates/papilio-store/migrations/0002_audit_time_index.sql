-- The global audit trail lists newest first and filters by time.
CREATE INDEX audit_log_at ON audit_log (at);
