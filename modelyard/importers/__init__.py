"""Importers that turn local checkpoints into Model resources."""
