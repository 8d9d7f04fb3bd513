"""Built-in learning-rule plugins; each module is its own entry point (see pyproject.toml)."""
