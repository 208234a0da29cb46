"""The built-in formats, one module each; exporters.base.get imports the one asked for."""
