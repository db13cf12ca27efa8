"""The customer's metadata template: the type token Viva's own template gives each field.

The Viva Insights portal offers a template zip (data.csv and metadata.json) for API-based imports.
Microsoft documents only `EmailType` among the metadata.json type tokens, so the template downloaded
from the customer's tenant is the best evidence of the others. Setting `metadata_template` (and
`--template` of `viva-insights validate` and `upload`) points at its metadata.json, or at the
template zip itself; its tokens become known tokens and the target writes them for its fields.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from target_viva_insights.errors import ConfigurationError

METADATA_MEMBER = "metadata.json"


class TemplateError(ConfigurationError):
    """The metadata template cannot be read or does not look like Viva's metadata.json."""


@dataclasses.dataclass(frozen=True)
class MetadataTemplate:
    """Viva field name -> type token, as the template maps them."""

    source: str
    tokens_by_field: Mapping[str, str]

    @property
    def tokens(self) -> frozenset[str]:
        """Every token the template uses: tokens Viva's own portal writes, so known ones."""
        return frozenset(self.tokens_by_field.values())

    def token_for(self, field: str) -> str | None:
        return self.tokens_by_field.get(field)

    def lacks(self, field: str) -> bool:
        return field not in self.tokens_by_field


def load_template(path: str | Path) -> MetadataTemplate:
    """Read the template's metadata.json (or the template zip holding it).

    Raises:
        TemplateError: the file is missing, not JSON, or has no usable "Mapping".
    """
    location = Path(path).expanduser()
    document = _parse(_read_metadata_bytes(location), location)
    return MetadataTemplate(str(location), _tokens_by_field(document, location))


def _read_metadata_bytes(location: Path) -> bytes:
    try:
        if zipfile.is_zipfile(location):
            return _member_of(location)
        return location.read_bytes()
    except OSError as error:
        raise TemplateError(f"metadata_template: cannot read {location}: {error.strerror}") from error


def _member_of(archive_path: Path) -> bytes:
    """The template zip's metadata.json, wherever the zip keeps it."""
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        candidates = [name for name in names if name.rsplit("/", 1)[-1].lower() == METADATA_MEMBER]
        if len(candidates) != 1:
            raise TemplateError(
                f"metadata_template: {archive_path} should hold one {METADATA_MEMBER}; "
                f"it holds {len(candidates)}"
            )
        return archive.read(candidates[0])


def _parse(raw: bytes, location: Path) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TemplateError(f"metadata_template: {location} is not UTF-8 JSON: {error}") from error
    if not isinstance(document, dict):
        raise TemplateError(f"metadata_template: {location} must hold a JSON object")
    return document


def _tokens_by_field(document: dict[str, Any], location: Path) -> dict[str, str]:
    entries = document.get("Mapping")
    if not isinstance(entries, dict) or not entries:
        raise TemplateError(f'metadata_template: {location} has no "Mapping" object')
    tokens: dict[str, str] = {}
    for header, entry in entries.items():
        if not isinstance(entry, dict) or not entry.get("type"):
            raise TemplateError(f'metadata_template: the mapping of "{header}" in {location} has no "type"')
        tokens[str(entry.get("name") or header)] = str(entry["type"])
    return tokens
