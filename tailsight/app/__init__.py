"""The long-running process: the HTTP API and the services that ``tailsight up`` hosts in one event loop.

``runner`` starts uvicorn servers and background services (OTLP receivers, the
analysis scheduler, the UI) on one asyncio loop and stops them cleanly on SIGTERM or
SIGINT; ``api`` is the HTTP API of CONTRACT §4–5.
"""
