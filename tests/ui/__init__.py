"""The browser test of make ui's stack."""
