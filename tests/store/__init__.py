"""Tests of publisher.store: the store."""
