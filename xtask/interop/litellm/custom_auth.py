"""Custom auth hook for the interop proxy (`general_settings.custom_auth`).

Without a database LiteLLM answers a wrong key with 400 "No connected db." and
a missing key with a plain-text 500. This hook answers like a hosted gateway:
401 for a missing or unknown key, and a per-key request limit for the keys
`sk-interop-limited-<anything>` (one request a minute), whose 429s come from
LiteLLM's own limiter with a `retry-after` header.
"""

from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

OPEN_KEY = "sk-interop"
LIMITED_PREFIX = "sk-interop-limited-"


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key == OPEN_KEY:
        return UserAPIKeyAuth(api_key=api_key)
    if api_key.startswith(LIMITED_PREFIX) and len(api_key) > len(LIMITED_PREFIX):
        return UserAPIKeyAuth(api_key=api_key, rpm_limit=1)
    raise HTTPException(status_code=401, detail="invalid api key")
