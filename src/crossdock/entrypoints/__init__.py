"""The outermost layer: HTTP API, CLI and worker processes. Reads settings, calls bootstrap, drives the hub."""
