"""The distributed suites: real PostgreSQL and SeaweedFS servers, one each per session
(tests/stack_servers.py). Every test here is marked `distributed`."""

import pytest

from tests.stack_servers import postgres_server, s3_server

__all__ = ["postgres_server", "s3_server"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/distributed/" in item.nodeid:
            item.add_marker(pytest.mark.distributed)
