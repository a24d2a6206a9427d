"""Metrics, traces, structured logs and the figures behind them. Wired by bootstrap and entrypoints; the hub imports
only `context` (stdlib and the OpenTelemetry API: correlation id and spans), the domain nothing here."""
