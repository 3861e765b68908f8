"""Builders and servers shared by several test folders (one import name each: tests.helpers.X)."""
