"""FaceCast gateway service."""
