"""Package discovery: `shared` and `services` as they lie, plus the client SDK importable as `facecast`."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["shared*", "services*"]) + ["facecast"],
    package_dir={"facecast": "services/gateway/sdk"},
)
