"""Faults, crashes, bad input, secrets and transport against the emulator (make test-reliability)."""
