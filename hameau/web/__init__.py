"""The web layer: app factory, middleware, errors, templates and static files."""
