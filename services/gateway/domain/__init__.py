"""The gateway's domain: one module per resource. Each function takes what it works with explicitly (a
database session or sessionmaker, the object store, the settings) and raises `shared.errors` problems; the
routers in `api/` only parse, authenticate, call one of these and shape the answer."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.events import Step

# Runs one stage step for a tenant and waits for its outcome (`services.gateway.steps.run_step` bound to the
# running gateway, given to the domain by the routers): (tenant id, step, what a failure is about) ->
# {"outputs": {name: ObjectRef dict}, "report": dict}; raises the step's error.
StepRunner = Callable[[str, Step, str], Awaitable[dict]]
