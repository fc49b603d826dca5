"""The `footprint` command."""
