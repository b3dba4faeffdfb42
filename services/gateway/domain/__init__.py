"""The gateway's domain: one module per resource. Each function takes what it works with explicitly (a
database session or sessionmaker, the object store, the settings) and raises `shared.errors` problems; the
routers in `api/` only parse, authenticate, call one of these and shape the answer."""
