"""FaceCast generator service."""
