"""Package discovery: `shared` and `services` as they lie. The client SDK (`facecast`) is its own distribution,
`facecast-client` in clients/python; `make install` adds it to the server's venv."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["shared*", "services*"]),
)
