"""Tests of publisher.core: configuration."""
