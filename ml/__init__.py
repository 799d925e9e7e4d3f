"""LogAction core: pure functions from raw log lines to anomaly scores (no web, no database)."""
