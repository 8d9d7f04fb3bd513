"""Built-in encoder plugins; each module is its own entry point (see pyproject.toml)."""
