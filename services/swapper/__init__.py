"""FaceCast swapper service."""
