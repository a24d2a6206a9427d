"""Metrics and structured logs. Fed by entrypoints; the hub and domain never import this."""
