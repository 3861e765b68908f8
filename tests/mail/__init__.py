"""Tests of publisher.mail: digests and delivery."""
