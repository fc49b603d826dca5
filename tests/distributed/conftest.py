"""The distributed suites: real PostgreSQL and SeaweedFS servers, one each per session
(tests/stack_servers.py). Test modules that use them are marked `distributed`."""

from tests.stack_servers import postgres_server, s3_server

__all__ = ["postgres_server", "s3_server"]
