"""The operator console: server-rendered pages over the hub, mounted by the API app under /console
(entrypoints/console/app.py). Must not: be imported by anything but the API app and its tests."""
