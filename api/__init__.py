"""mallcast's HTTP layer: the FastAPI app, its routers, dependencies and error mapping."""

__version__ = "0.1.0"
