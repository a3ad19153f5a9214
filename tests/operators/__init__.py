"""The operators of each platform, one by one and in DAG runs against the emulator."""
