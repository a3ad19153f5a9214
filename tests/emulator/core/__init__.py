"""The emulator's shared core: signatures, HTTP, faults, bounds, time formats."""
