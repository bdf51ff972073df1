"""Stored tickets: every scored ticket, its history, and idempotent replays of POSTs."""
