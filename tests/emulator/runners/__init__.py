"""The shared runners: process isolation, COS packages, simulated timers."""
