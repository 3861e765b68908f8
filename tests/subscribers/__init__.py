"""Tests of publisher.subscribers: subscribers and lists."""
