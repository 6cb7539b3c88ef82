"""REST API: one FastAPI router module per resource, errors mapped in one place."""
