"""FaceCast enhancer service."""
