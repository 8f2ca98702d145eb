"""What to run: the settings (each declared once), the sweep spec and its cells, the presets, and the
plan's rule for cells that cannot run on this machine."""
