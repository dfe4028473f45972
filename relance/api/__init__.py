"""Relance's HTTP API (FastAPI). `create_app(config, engine, relance_client)` builds it;
`relance.api.server.serve(config, stop_event)` runs it with uvicorn. See docs/api.md."""

from relance.api.app import create_app

__all__ = ["create_app"]
