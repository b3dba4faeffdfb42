"""FaceCast client SDK for shop platforms and store plugins (`facecast.client`)."""
