"""The contract tests run the same test functions against the in-process bus/local store and against
Kafka (Tansu) / S3 (JuiceFS gateway); the server fixtures come from tests/integration/conftest.py."""
from tests.integration.conftest import s3_server, tansu_broker  # noqa: F401  (session fixtures)
