"""Domain logic as plain functions taking a session and a clock; no HTTP here."""
