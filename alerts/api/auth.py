"""Bearer-token authentication and the role each route needs.

The API reads ``Authorization: Bearer <token>``; the web UI keeps the same
token in an HTTP-only, same-site cookie set by its login form. A missing or
unknown token is 401, a known user without the route's role 403, each with a
message that says which.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.desk import CaseDesk
from alerts.users import User

COOKIE = "riskwatch_token"
ANY_ROLE = ("analyst", "compliance", "admin")
CASE_WORKERS = ("analyst", "compliance")
COMPLIANCE = ("compliance",)
AUDITORS = ("compliance", "admin")
ADMIN = ("admin",)

_bearer = HTTPBearer(auto_error=False, description="a riskwatch API token")


def desk_of(request: Request) -> CaseDesk:
    desk: CaseDesk = request.app.state.desk
    return desk


def token_from(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None:
        return credentials.credentials
    return request.cookies.get(COOKIE)


def current_user(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> User:
    token = token_from(request, credentials)
    if not token:
        raise HTTPException(
            401,
            "missing token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = desk_of(request).users.by_token(token)
    if user is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return user


def require(*roles: str) -> Callable[..., User]:
    """A dependency that lets through only users with one of ``roles``."""

    def check(user: User = Depends(current_user)) -> User:  # noqa: B008
        if user.role not in roles:
            msg = f"{user.username} has role {user.role}; this needs {' or '.join(roles)}"
            raise HTTPException(403, msg)
        return user

    return check
