"""The application: intake, routing, handlers, outbox, timers. Imports the domain only; no wire formats."""
