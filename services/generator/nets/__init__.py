"""Torch modules of the generator engines."""
