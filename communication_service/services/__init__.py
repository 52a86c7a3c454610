"""Domain logic as plain functions taking one ``Context`` (``context.py``); no HTTP here."""
