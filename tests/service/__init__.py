"""Tests of publisher.service: the running service."""
