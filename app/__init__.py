"""LogAction Studio server: persistence, jobs, API and pages around the pure ``ml`` library."""
