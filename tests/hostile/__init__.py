"""Hostile trials: each defect found becomes a test of the command as a user runs it."""
