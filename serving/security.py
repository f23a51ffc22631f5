"""API keys: compared as SHA-256 digests in constant time; never logged."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from funnelcast.core.errors import Forbidden, Unauthorized
from funnelcast.serving.settings import hash_key

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Scoring or admin key")


def _matches(key: str | None, hashes: tuple[str, ...]) -> bool:
    if not key:
        return False
    digest = hash_key(key)
    found = False
    for known in hashes:  # look at every hash: timing does not reveal which one matched
        found |= hmac.compare_digest(digest, known)
    return found


# async: trivial checks run on the event loop instead of costing a thread hop per request
async def require_scoring_key(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    settings = request.app.state.settings
    scoring, admin = settings.key_hashes(), settings.key_hashes(admin=True)
    if not scoring and not admin:
        return  # no keys configured: open (local use)
    if not _matches(key, scoring + admin):
        raise Unauthorized("a valid API key is required in the X-API-Key header")


async def require_admin_key(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    settings = request.app.state.settings
    admin = settings.key_hashes(admin=True)
    if not key:
        raise Unauthorized("an admin API key is required in the X-API-Key header")
    if _matches(key, admin):
        return
    if _matches(key, settings.key_hashes()):
        raise Forbidden("this key may score but not administer")
    raise Unauthorized("invalid API key")


ScoringKey = Annotated[None, Depends(require_scoring_key)]
AdminKey = Annotated[None, Depends(require_admin_key)]
