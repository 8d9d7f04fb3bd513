"""snnbench's built-in plugins, one folder per component family.

Installed as the package ``snnbench_plugins`` and registered through the
``snnbench`` entry-point group, exactly as a third-party plugin is.
"""
