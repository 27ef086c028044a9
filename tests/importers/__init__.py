"""Tests of the importers (Hugging Face checkpoints, JSON lines) and the bundled demo catalog."""
