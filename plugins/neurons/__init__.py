"""Built-in neuron-model plugins; each module is its own entry point (see pyproject.toml)."""
