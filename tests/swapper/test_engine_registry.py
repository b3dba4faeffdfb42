"""The swapper's engines are listed by its registry, with commercial use by the one rule."""
from services.swapper.engines import REGISTRY
from tests.engines.checks import check_registry


def test_the_registry_lists_the_engines_and_their_commercial_use():
    check_registry(REGISTRY, default="classical", commercial={"classical": True, "faceshifter": False})
