"""FaceCast's common library: events, bus, object store, settings, telemetry, runtime, faces.

Nothing here imports from `services`."""
