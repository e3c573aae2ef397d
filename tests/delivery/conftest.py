"""Fixtures of the delivery tests: SDK clients, and a "cold" server that pre-generates nothing.

The shared ``server`` (tests/conftest.py) pre-generates every task's chunks in the background
right after ingest. ``cold_server`` runs with ``LABELBAY_QUEUE_WORKERS=0``: its queue is never
consumed, so every frame, chunk and preview is built by the first request that wants it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cvat_sdk import Client

from conftest import ADMIN, Server, launch_server
from e2e.helpers import sdk_client, token_http


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Client]:
    """The administrator's cvat-sdk client on the shared server."""
    with sdk_client(server, ADMIN) as signed_in:
        yield signed_in


@pytest.fixture(scope="session")
def cold_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"LABELBAY_QUEUE_WORKERS": "0", "LABELBAY_MAX_IMAGE_PIXELS": str(50_000_000)}
    data_dir = tmp_path_factory.mktemp("labelbay-cold")
    with launch_server(data_dir, settings, db_suffix="_cold") as running:
        yield running


@pytest.fixture(scope="session")
def cold_client(cold_server: Server) -> Iterator[Client]:
    with sdk_client(cold_server, ADMIN) as signed_in:
        yield signed_in


@pytest.fixture
def cold_http(cold_server: Server) -> Iterator[httpx.Client]:
    with token_http(cold_server, ADMIN) as signed_in:
        yield signed_in
