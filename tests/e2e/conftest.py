"""Fixtures of the end-to-end tests, on top of the shared ``server`` of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cvat_sdk import Client

from conftest import ADMIN, Server

from .helpers import Credentials, sdk_client


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Client]:
    """The administrator's cvat-sdk client, signed in with a password."""
    with sdk_client(server, ADMIN) as signed_in:
        yield signed_in


@pytest.fixture
def user(server: Server) -> Credentials:
    """A fresh ordinary user: sees only what it creates, so its lists are predictable."""
    return server.create_user()


@pytest.fixture
def user_client(server: Server, user: Credentials) -> Iterator[Client]:
    with sdk_client(server, user) as signed_in:
        yield signed_in
