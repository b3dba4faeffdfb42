"""One module per enhancer engine: `realesrgan` (default, packaged weights) and `gpen` (model store)."""
