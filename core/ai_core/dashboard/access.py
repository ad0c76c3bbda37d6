"""Who may see the dashboard, and how much of it.

- Bound to a loopback address (127.0.0.0/8, ``::1``, ``localhost``) with no
  ``AI_DASHBOARD_TOKEN`` set, the dashboard has no login: whoever can reach
  the port is already on the machine.
- With ``AI_DASHBOARD_TOKEN`` set, every request must carry a token, wherever
  the dashboard is bound; binding to any other address requires it to be set.
- The token itself sees every tenant. A *tenant token* sees one tenant only,
  on every page, search and export: ``ai dashboard token --tenant acme`` makes
  one, signed with ``AI_DASHBOARD_TOKEN`` (HMAC-SHA256), so nothing is stored
  and changing ``AI_DASHBOARD_TOKEN`` revokes every tenant token at once.

A browser presents a token once as ``?token=...``; the dashboard answers with
an HttpOnly, SameSite=Strict cookie and a redirect to the same page without
it, so the token does not stay in the address bar or the history. Scripts may
send ``Authorization: Bearer <token>`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from ai_core.errors import ConfigurationError

__all__ = ["TOKEN_ENV", "Viewer", "check_bind", "is_loopback", "tenant_token", "viewer_for"]

TOKEN_ENV = "AI_DASHBOARD_TOKEN"
_PREFIX = "tenant."
_CONTEXT = b"ai-core dashboard tenant token v1\x00"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: ``tenant`` None sees every tenant."""

    tenant: str | None = None

    @property
    def scoped(self) -> bool:
        return self.tenant is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, tenant: str) -> str:
    return _b64(hmac.new(secret.encode(), _CONTEXT + tenant.encode(), hashlib.sha256).digest())


def tenant_token(secret: str, tenant: str) -> str:
    """A token that sees only ``tenant``, signed with the dashboard's token ``secret``."""
    if not secret:
        raise ConfigurationError(f"set {TOKEN_ENV} first: tenant tokens are signed with it")
    if not tenant:
        raise ConfigurationError("a tenant token needs a tenant name")
    return f"{_PREFIX}{_b64(tenant.encode())}.{_signature(secret, tenant)}"


def viewer_for(token: str | None, secret: str | None) -> Viewer | None:
    """The viewer ``token`` stands for, or None when it is not valid.

    With no ``secret`` configured there is nothing to check against: everyone
    is a full viewer (the caller allows that only on a loopback address).
    """
    if not secret:
        return Viewer()
    if not token:
        return None
    if hmac.compare_digest(token.encode(), secret.encode()):
        return Viewer()
    if not token.startswith(_PREFIX):
        return None
    encoded, dot, signature = token[len(_PREFIX) :].partition(".")
    if not dot:
        return None
    try:
        tenant = _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not tenant or not hmac.compare_digest(signature.encode(), _signature(secret, tenant).encode()):
        return None
    return Viewer(tenant=tenant)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, secret: str | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not secret:
        raise ConfigurationError(
            f"refusing to serve the dashboard on {host} without a token: set {TOKEN_ENV} "
            "(every request must then carry it), or bind to 127.0.0.1"
        )
