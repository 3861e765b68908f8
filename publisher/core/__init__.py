"""Cross-cutting pieces every layer may use: configuration, errors, clock, console output,
structured event log and atomic file writes. Imports nothing else of the app.
"""
