"""Data shipped with spectral-cvae: the starter grid of SYNSPEC spectra."""
