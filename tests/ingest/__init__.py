"""Tests of publisher.ingest: importing files."""
