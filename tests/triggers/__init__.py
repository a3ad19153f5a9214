"""The triggers of each platform, their shared poller, live logs and log budget, against the emulator."""
