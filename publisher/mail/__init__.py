"""Digests and their delivery: issues, rendering and personalising messages, transports
(SMTP, Maildir), the delivery ledger, workers and one-off sends.
"""
