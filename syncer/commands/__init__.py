"""One module per command (group); :mod:`syncer.cli` registers them on the app."""
