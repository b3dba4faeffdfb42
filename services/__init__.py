"""FaceCast's services: one package per stage, the gateway, and the `facecast` command line."""
