"""Tests of publisher.publish: the site and feeds."""
