"""modelyard's test suite: tests grouped by the layer they exercise; shared helpers in ``tests.support``."""
