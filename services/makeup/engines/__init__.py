"""Makeup engines: `landmarks` (own code, no download) and `beautygan` (weights from the model store)."""
