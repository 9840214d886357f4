"""Keys kept outside the dataset store: the secrets key (Fernet), the pseudonymisation key and the
export salt. Someone who copies the store (``JOURNEYS_HOME``) gets none of them.

They live in ``JOURNEYS_KEY_DIR`` (default ``~/.config/journeys``), one file each, created on first
use with mode 0600, or come from the environment (``JOURNEYS_SECRET_KEY``, ``JOURNEYS_PSEUDONYM_KEY``,
``JOURNEYS_EXPORT_SALT``), which wins. A folder inside the store is refused. Back the folder up: without
the pseudonymisation key, later loads give the same person a different id.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Literal

from journeys.errors import JourneyError

KeyName = Literal["secret", "pseudonym", "export-salt"]
ENV = {"secret": "JOURNEYS_SECRET_KEY", "pseudonym": "JOURNEYS_PSEUDONYM_KEY", "export-salt": "JOURNEYS_EXPORT_SALT"}


def key_dir() -> Path:
    folder = Path(os.environ.get("JOURNEYS_KEY_DIR") or Path.home() / ".config" / "journeys").expanduser()
    home = Path(os.environ.get("JOURNEYS_HOME", ".journeys")).resolve()
    resolved = folder.resolve()
    if resolved == home or home in resolved.parents:
        raise JourneyError(f"The key folder {folder} is inside the dataset store {home}: keys must live outside it.",
                           hint="Set JOURNEYS_KEY_DIR to a folder outside JOURNEYS_HOME.")
    return folder


def load_key(name: KeyName) -> bytes:
    """The key's 32 bytes (urlsafe base64 in its file or variable), made on first use."""
    env = os.environ.get(ENV[name])
    if env:
        return _decode(env, ENV[name])
    path = key_dir() / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    return _decode(path.read_text().strip(), str(path))


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise JourneyError(f"The key in {where} is not 32 bytes of urlsafe base64.",
                           hint='Make one with: python -c "import secrets,base64;'
                                'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"')
    return raw
