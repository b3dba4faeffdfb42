"""Torch modules of the enhancer engines."""
