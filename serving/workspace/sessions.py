"""Signing in to the workspace: a session cookie signed with the server's secret (HttpOnly,
SameSite=Lax, Secure when the request came over TLS, 12 hours), holding the user, their role and
owner, and the CSRF token every form must send back."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "fc_session"
LOGIN_CSRF = "fc_login"
MAX_AGE = 12 * 3600


def serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.session_secret, salt="funnelcast-workspace")


def current(request: Request) -> dict | None:
    """The signed-in user of this request ({username, role, owner, csrf}), or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        return serializer(request).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def sign_in(request: Request, response: Response, user: dict) -> None:
    session = {**user, "csrf": secrets.token_urlsafe(24)}
    response.set_cookie(
        COOKIE,
        serializer(request).dumps(session),
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/app",
    )
    response.delete_cookie(LOGIN_CSRF, path="/app")


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/app")


def login_token(request: Request) -> str:
    """The CSRF token of the sign-in form (double submit: a cookie and the form must agree)."""
    return request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)


def keep_login_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF, token, max_age=3600, httponly=True, samesite="lax", secure=_secure(request), path="/app"
    )


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
