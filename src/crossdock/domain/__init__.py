"""The business language: canonical documents, events and rules. Pure Python, no I/O, no clock."""
