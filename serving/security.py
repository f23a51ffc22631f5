"""API keys and per-key rate limits, checked from the headers before the body is read.

Keys are compared as SHA-256 digests (computed once at start; the plaintext is not kept) in constant
time, and never logged. Routes list `ScoringKey` / `AdminKey` first among their parameters: FastAPI
resolves dependencies in that order, so an unauthenticated request is refused before its body is
parsed."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from funnelcast.core.errors import Forbidden, RateLimited, Unauthorized
from funnelcast.serving.settings import hash_key

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Scoring or admin key")


def _matching(key: str | None, hashes: tuple[str, ...]) -> str | None:
    """The digest of `key` when it is one of `hashes`, else None."""
    if not key:
        return None
    digest = hash_key(key)
    found = False
    for known in hashes:  # look at every hash: timing does not reveal which one matched
        found |= hmac.compare_digest(digest, known)
    return digest if found else None


def _admit(request: Request, caller: str) -> None:
    """Count the request against the caller's bucket; 429 with Retry-After when it is empty."""
    request.state.caller = caller[:12]  # for the access log: which key, not the key
    wait = request.app.state.rate_limits.take(caller)
    if wait > 0:
        raise RateLimited(
            f"too many requests for this key; the limit is "
            f"{request.app.state.settings.rate_limit_per_second:g} per second",
            retry_after=wait,
        )


# async: trivial checks run on the event loop instead of costing a thread hop per request
async def require_scoring_key(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    settings = request.app.state.settings
    scoring, admin = settings.key_hashes(), settings.key_hashes(admin=True)
    if not scoring and not admin:  # no keys configured: open (local use); limited per client address
        _admit(request, "addr:" + (request.client.host if request.client else "unknown"))
        return
    digest = _matching(key, scoring + admin)
    if digest is None:
        raise Unauthorized("a valid API key is required in the X-API-Key header")
    _admit(request, digest)


async def require_admin_key(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    settings = request.app.state.settings
    admin = settings.key_hashes(admin=True)
    if not key:
        raise Unauthorized("an admin API key is required in the X-API-Key header")
    digest = _matching(key, admin)
    if digest is not None:
        _admit(request, digest)
        return
    if _matching(key, settings.key_hashes()):
        raise Forbidden("this key may score but not administer")
    raise Unauthorized("invalid API key")


ScoringKey = Annotated[None, Depends(require_scoring_key)]
AdminKey = Annotated[None, Depends(require_admin_key)]
