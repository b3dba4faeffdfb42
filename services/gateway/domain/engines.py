"""Engines of every stage with their licences, and what the operator imported for them: each engine's rows
from the stage contracts (`StageCatalog.engines`), joined with the model store's records of its weight
files, and `commercial_use_as_imported` by the one rule (`shared.engines.commercial_use`) where files are
imported."""
from __future__ import annotations

from services.gateway.catalog import StageCatalog
from shared.engines import commercial_use
from shared.licence_terms import use_restrictions
from shared.settings import Settings
from shared.weights import ModelStore


def list_engines(catalog: StageCatalog, settings: Settings) -> list[dict]:
    """`EngineOut` rows; `imported` lists the records of the engine's weight files found in the model store
    (`settings.model_dir`), each with the use restrictions its licence carries."""
    rows = catalog.engines()
    records = ModelStore.from_settings(settings).records()
    for row in rows:  # what the operator imported decides: its licence, and the use restrictions that come with it
        names = [name for name in row.get("weights", []) if isinstance(name, str)]
        row["imported"] = [records[name].public() | {"use_restrictions": use_restrictions(records[name].licence)}
                           for name in names if name in records]
        if row["imported"] and "code_licence" in row:  # the one rule, with the imported files judged by their records
            declared = [licence for name, licence in row.get("weight_licences", {}).items() if name not in records]
            row["commercial_use_as_imported"] = commercial_use(row["code_licence"], declared,
                                                               [records[name] for name in names if name in records])
    return rows
