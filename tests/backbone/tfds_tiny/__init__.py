"""A TFDS builder for tests. TFDS looks up builder resources by package, so it lives in a package of its own."""
