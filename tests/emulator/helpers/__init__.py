"""Helpers of the emulator tests: ``tia`` (TiaClient, raw requests, scripts), ``tione`` (TioneClient, COS)."""
