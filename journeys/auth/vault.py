"""Secrets (connection passwords, webhook secrets) are never stored in clear: they are encrypted with
the secrets key kept outside the store (see :mod:`journeys.auth.keys`), or referenced by an
environment variable and read only when needed.

- :func:`encrypt` / :func:`decrypt`: ``"fernet:<token>"`` strings (cryptography's Fernet: AES + HMAC).
- :func:`protect_url`: a connection URL for the catalogue, its password encrypted (``enc:<token>``)
  unless it already names a variable (``${PGPASSWORD}``); :func:`reveal_url` gives it back for
  connecting; :func:`redact_url` is what may be shown or printed.

Examples:
    >>> protect_url("postgres://ann:${PGPASSWORD}@db/shop")  # a reference is kept as it is
    'postgres://ann:${PGPASSWORD}@db/shop'
    >>> redact_url("postgres://ann:s3cret@db/shop")
    'postgres://ann:***@db/shop'
"""

from __future__ import annotations

import contextlib
import os
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

from journeys.auth.keys import load_key
from journeys.errors import JourneyError

PREFIX = "fernet:"
URL_PREFIX = "enc:"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _fernet() -> Fernet:
    import base64

    return Fernet(base64.urlsafe_b64encode(load_key("secret")))


def encrypt(secret: str) -> str:
    """``secret`` encrypted for storage, as ``fernet:<token>``."""
    return PREFIX + _fernet().encrypt(secret.encode()).decode()


def decrypt(stored: str) -> str:
    """The clear text of an :func:`encrypt` result; a value without the prefix is read as ``${VAR}`` or
    returned unchanged."""
    if stored.startswith(PREFIX):
        return _open(stored[len(PREFIX):])
    return _from_env(stored)


def _open(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as err:
        raise JourneyError("A stored secret cannot be decrypted with this server's secrets key.",
                           hint="It was stored with another key: restore that key (JOURNEYS_KEY_DIR) "
                                "or enter the secret again.") from err


def _from_env(value: str) -> str:
    ref = _ENV_REF.match(value)
    if not ref:
        return value
    found = os.environ.get(ref.group(1))
    if found is None:
        raise JourneyError(f"The environment variable {ref.group(1)} is not set; the secret is read from it.")
    return found


def _split(url: str) -> tuple[SplitResult, str | None]:
    parts = urlsplit(url)
    userinfo, at, _host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return parts, None
    return parts, userinfo.partition(":")[2]


def _with_password(parts: SplitResult, password: str) -> str:
    userinfo, _at, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def protect_url(url: str) -> str:
    """The URL to store: a clear password is replaced by ``enc:<token>``; ``${VAR}`` stays a reference."""
    parts, password = _split(url)
    if password is None or password.startswith(URL_PREFIX) or _ENV_REF.match(password):
        return url
    return _with_password(parts, URL_PREFIX + _fernet().encrypt(password.encode()).decode())


def reveal_url(url: str) -> str:
    """The URL to connect with: an ``enc:`` password decrypted, a ``${VAR}`` read from the environment."""
    parts, password = _split(url)
    if password is None:
        return url
    if password.startswith(URL_PREFIX):
        return _with_password(parts, _open(password[len(URL_PREFIX):]))
    return _with_password(parts, _from_env(password))


def redact_url(url: str) -> str:
    """The URL as it may be shown or printed: any password is ``***`` (a ``${VAR}`` reference stays)."""
    parts, password = _split(url)
    if password is None or _ENV_REF.match(password):
        return url
    return _with_password(parts, "***")


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the password of ``url``, stored or revealed form."""
    _parts, password = _split(url)
    if not password:
        return text
    secrets = {password}
    with contextlib.suppress(JourneyError):  # an unset ${VAR} or another key: nothing more to hide
        secrets.add(_split(reveal_url(url))[1] or "")
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
