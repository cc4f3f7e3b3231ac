"""Small helpers shared by every layer: atomic file writes, shared docstrings, deadlines, timings,
checks of attribution maps, pickle-free npz files and the aliases of the package's old module paths.
Nothing here imports another part of the package."""
