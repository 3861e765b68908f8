"""Tests of publisher.i18n: languages and translations."""
