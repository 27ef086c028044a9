"""modelyard: a self-hostable model registry, wire-compatible with the Fireworks Gateway REST Models API."""

__version__ = "0.1.0"
