"""Flow 1: sign-in, server version, tokens and sign-out through the real cvat-sdk."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.exceptions import ApiException
from packaging.version import Version

from conftest import ADMIN, Server

from .helpers import Credentials, login_key, sdk_client


def test_about_is_public_and_reports_a_compatible_version(server: Server) -> None:
    response = httpx.get(f"{server.url}/api/server/about", timeout=30)
    assert response.status_code == 200
    body = response.json()
    for key in ("name", "description", "version", "logo_url", "subtitle"):
        assert isinstance(body[key], str), key
    assert body["version"] == "2.80.0"


def test_make_client_signs_in_and_reads_about(server: Server, user: Credentials) -> None:
    with sdk_client(server, user) as client:
        about, response = client.api_client.server_api.retrieve_about()
        assert response.status == 200
        assert about.version == "2.80.0"
        assert client.get_server_version() == Version("2.80.0")
        cookies = client.api_client.cookies
        assert "sessionid" in cookies
        assert "csrftoken" in cookies
        assert not cookies["sessionid"].value.endswith(",")
        me = client.users.retrieve_current_user()
        assert me.username == user[0]


def test_users_self(server: Server, user: Credentials, client: Client) -> None:
    with sdk_client(server, user) as own:
        me, response = own.api_client.users_api.retrieve_self()
        assert response.status == 200
        assert me.username == user[0]
        assert isinstance(me.groups, list)
        assert all(isinstance(group, str) for group in me.groups)
        assert me.is_superuser is False
    admin, _ = client.api_client.users_api.retrieve_self()
    assert admin.username == ADMIN[0]
    assert admin.is_superuser is True


def test_wrong_password_is_a_400(server: Server, user: Credentials) -> None:
    with pytest.raises(ApiException) as caught:
        make_client(server.host, port=server.port, credentials=(user[0], "not-the-password"))
    assert caught.value.status == 400


def test_unknown_user_is_a_400(server: Server) -> None:
    with pytest.raises(ApiException) as caught:
        make_client(server.host, port=server.port, credentials=("nobody-here", "whatever-1"))
    assert caught.value.status == 400


def test_access_token_from_login_works_as_bearer(server: Server, user: Credentials) -> None:
    key = login_key(server, user)
    assert 0 < len(key) <= 40
    client = make_client(server.host, port=server.port, access_token=key)
    try:
        assert "sessionid" not in client.api_client.cookies
        me = client.users.retrieve_current_user()
        assert me.username == user[0]
        # A write with the token alone: no cookies, no CSRF header.
        project = client.projects.create({"name": "made with a token"})
        assert project.owner.username == user[0]
        project.remove()
    finally:
        client.close()


def test_token_scheme_and_bad_tokens(server: Server, user: Credentials) -> None:
    key = login_key(server, user)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ok = http.get("/api/users/self", headers={"Authorization": f"Token {key}"})
        assert ok.status_code == 200
        assert ok.json()["username"] == user[0]
        assert http.get("/api/users/self").status_code == 401
        bad = http.get("/api/users/self", headers={"Authorization": "Bearer not-a-real-token"})
        assert bad.status_code == 401
        assert http.get("/api/tasks").status_code == 401
        for header in (f"Basic {key}", "Token"):
            odd = http.get("/api/users/self", headers={"Authorization": header})
            assert odd.status_code == 401, header
            assert "Authorization header" in odd.text, header

    bogus = make_client(server.host, port=server.port, access_token="not-a-real-token")
    try:
        with pytest.raises(ApiException) as caught:
            bogus.users.retrieve_current_user()
        assert caught.value.status == 401
    finally:
        bogus.close()


def test_logout_ends_the_session(server: Server, user: Credentials) -> None:
    client = make_client(server.host, port=server.port, credentials=user)
    try:
        session_id = client.api_client.cookies["sessionid"].value
        csrf = client.api_client.cookies["csrftoken"].value
        cookies = {"sessionid": session_id, "csrftoken": csrf}
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as http:
            assert http.get("/api/users/self").status_code == 200
            client.logout()
            assert not client.has_credentials()
            assert http.get("/api/users/self").status_code == 401
        with pytest.raises(ApiException) as caught:
            client.users.retrieve_current_user()
        assert caught.value.status == 401
        # Signing in again on the same client works.
        client.login(user)
        assert client.users.retrieve_current_user().username == user[0]
    finally:
        client.close()


def test_login_cookies_survive_the_clients_joined_header(server: Server, user: Credentials) -> None:
    """urllib3 joins Set-Cookie headers with ", " and the SDK parses that with SimpleCookie."""
    response = httpx.post(
        f"{server.url}/api/auth/login", json={"username": user[0], "password": user[1]},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200
    headers = response.headers.get_list("set-cookie")
    assert len(headers) >= 2
    jar = SimpleCookie()
    jar.load(", ".join(headers))
    assert {"sessionid", "csrftoken"} <= set(jar)
    assert re.fullmatch(r"[A-Za-z0-9]+", jar["sessionid"].value)
    assert re.fullmatch(r"[A-Za-z0-9]+", jar["csrftoken"].value)
    assert jar["sessionid"].value == response.cookies["sessionid"]
    assert jar["csrftoken"].value == response.cookies["csrftoken"]


def test_session_requests_keep_the_cookies_and_check_csrf(
    server: Server, user: Credentials
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = http.post("/api/auth/login", json={"username": user[0], "password": user[1]})
        assert login.status_code == 200
        csrf = http.cookies["csrftoken"]
        read = http.get("/api/users/self")
        assert read.status_code == 200
        assert "set-cookie" not in read.headers  # the login-time values stay valid

        body = {"name": "session project"}
        ok = http.post("/api/projects", json=body, headers={"X-CSRFToken": csrf,
                                                            "Origin": server.url})  # fmt: skip
        assert ok.status_code == 201, ok.text
        assert "set-cookie" not in ok.headers
        forged = http.post("/api/projects", json=body, headers={"X-CSRFToken": "0" * 40})
        assert forged.status_code == 403
        assert http.delete(f"/api/projects/{ok.json()['id']}",
                           headers={"X-CSRFToken": csrf}).status_code == 204  # fmt: skip
