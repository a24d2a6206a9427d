"""Fake third-party servers for tests: each runs on 127.0.0.1 and enforces the behaviour its system documents."""
