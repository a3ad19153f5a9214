"""The emulated TI-ONE service."""
