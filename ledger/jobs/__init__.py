"""Jobs (后台任务): large imports queued in PostgreSQL and run by ``ledger worker``."""
