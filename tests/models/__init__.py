"""The pure models of each platform: request specs, replies, states, times (no network)."""
