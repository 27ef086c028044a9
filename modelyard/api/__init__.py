"""The HTTP API (FastAPI): routes, authentication, google.rpc error mapping. Thin by design."""
