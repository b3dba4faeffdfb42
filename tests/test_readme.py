"""The README stays true: every setting is documented and the two commands exist."""
from pathlib import Path

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented():
    readme = (ROOT / "README.md").read_text()
    missing = [f"FACECAST_{n.upper()}" for n in Settings.model_fields if f"`FACECAST_{n.upper()}`" not in readme]
    assert not missing, f"README lacks {missing}"


def test_the_two_commands_exist_and_ci_calls_the_test_command():
    makefile = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make serve" in readme and "make test" in readme
    assert "\nserve:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_engine_table_is_the_registries():
    from services.engine_table import readme_table, registries
    from shared.engines import engine_table

    assert readme_table((ROOT / "README.md").read_text()) == engine_table(registries()), \
        "README's engine table differs from the registries: run `python -m services.engine_table`"
