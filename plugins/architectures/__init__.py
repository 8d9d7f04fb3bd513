"""Built-in architecture plugins; each module is its own entry point (see pyproject.toml)."""
