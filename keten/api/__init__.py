"""The HTTP API of keten: `keten.api.app.create_app()` builds it, `keten serve` runs it.

Kept free of imports so that `keten keys create` (which needs only `keten.api.keys`) starts
without loading FastAPI and the analyses.
"""
