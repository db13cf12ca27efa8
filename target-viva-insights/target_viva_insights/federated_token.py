"""Federated token files (workload identity federation): a JWT another identity provider issued, that a
platform (the kubelet, a CI step) writes to a file and rotates.

Ground floor: the start-up check (config_check.py) reads the file before any upload code runs, and the
sign-in (upload/auth.py) reads it again for every token request.
"""

from __future__ import annotations

import re
from pathlib import Path

from target_viva_insights.errors import ConfigurationError
from target_viva_insights.log_text import printable

# A compact JWS: three base64url parts (header, claims, signature) joined by dots.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def read_federated_token(path: Path) -> str:
    """The JWT in a federated token file, surrounding whitespace removed.

    Raises:
        ConfigurationError: The file is missing, unreadable, empty, or holds no JWT; the message names
            the file and never shows its content.
    """
    shown = printable(path)
    try:
        text = path.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise ConfigurationError(f"The federated token file {shown} does not exist.") from None
    except IsADirectoryError:
        raise ConfigurationError(f"The federated token file {shown} is a folder, not a file.") from None
    except OSError as error:
        raise ConfigurationError(f"Cannot read the federated token file {shown}: {error.strerror}.") from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"The federated token file {shown} holds no JWT (it is not ASCII text)."
        ) from None
    if not text:
        raise ConfigurationError(
            f"The federated token file {shown} is empty: the platform that writes it (the kubelet, the CI "
            "step) has not written a token yet."
        )
    if not _JWT_SHAPE.fullmatch(text):
        raise ConfigurationError(
            f"The federated token file {shown} holds no JWT (three dot-separated base64url parts); "
            "it must hold the identity provider's token alone."
        )
    return text
