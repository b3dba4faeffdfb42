"""FaceCast makeup service."""
