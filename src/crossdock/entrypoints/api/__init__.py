"""The HTTP API (FastAPI): intake, health, operations. Built by create_app(runtime); nothing at import time."""
