"""The production-like stack: PostgreSQL, LocalExecutor, two triggerers, the emulator and COS."""
