"""Tests of publisher.cli: the command line."""
