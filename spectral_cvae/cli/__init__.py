"""The ``spectral-cvae`` command line."""
