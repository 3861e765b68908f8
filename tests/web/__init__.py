"""Tests of publisher.web: the web endpoint."""
