"""Test helpers and contract suites that plug-in backends can run against themselves."""
