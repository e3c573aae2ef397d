"""Fixtures of the backup tests: cvat-sdk and plain HTTP clients on the shared server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cvat_sdk import Client

from conftest import ADMIN, Server
from e2e.helpers import sdk_client, token_http


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Client]:
    """The administrator's cvat-sdk client, polling every second."""
    with sdk_client(server, ADMIN) as signed_in:
        signed_in.config.status_check_period = 1
        yield signed_in


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with token_http(server, ADMIN) as http:
        yield http
