"""Schedules, atomic writes, command-line helpers and run management."""
