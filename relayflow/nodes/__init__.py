"""Node specs, the registry and the built-in nodes."""
