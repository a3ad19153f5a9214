"""Tests of the emulator, by layer (core, runners) and platform (tia, tione); helpers in ``helpers``."""
