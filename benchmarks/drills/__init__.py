"""Fault drills: scripts printing what they checked and a PASS/FAIL line."""
