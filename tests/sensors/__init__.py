"""The sensors of each platform in DAG runs against the emulator."""
