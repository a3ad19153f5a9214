"""The emulated TI-A service."""
