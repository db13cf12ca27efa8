"""tap-hrsource: HR data from file exports and SQL databases, typed, incremental, with monthly snapshots."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from singer_sdk import Stream, Tap

from tap_hrsource.errors import HRSourceError, SettingsError
from tap_hrsource.fast_path import BufferedMsgSpecWriter
from tap_hrsource.settings import TAP_SETTINGS, parse_stream_settings
from tap_hrsource.streams import HRFileStream


class TapHRSource(Tap):
    """Singer tap for HR source data: file exports (CSV, Parquet, JSON lines, Excel) and SQL databases.

    Configured by `streams`, one entry per stream (see README.md, "Settings"). Run it with the
    `tap-hrsource` command (`main`), or in-process: `TapHRSource(config=...).sync_all()`.
    """

    name = "tap-hrsource"
    package_name = "tap-hrsource"
    config_jsonschema = TAP_SETTINGS
    message_writer_class = BufferedMsgSpecWriter

    def discover_streams(self) -> list[Stream]:
        """One stream per `streams` entry: a file stream, or an SQL stream when `sqlalchemy_url` is set.

        Returns:
            The configured streams, their schemas already known.

        Raises:
            SettingsError: An entry's settings cannot work.
            HRSourceError: A file or database cannot be read.
        """
        streams: list[Stream] = []
        for raw in self.config.get("streams", []):
            settings = parse_stream_settings(dict(raw))
            if settings.is_sql:
                # Imported here: SQLAlchemy costs about 10 MB of memory that file-only runs do not need.
                from tap_hrsource.sql import HRSQLStream

                streams.append(HRSQLStream(self, settings))
            else:
                streams.append(HRFileStream(self, settings))
        return streams

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI; bad input ends the run with its clear message and exit code, not a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except HRSourceError as error:
            logging.getLogger(cls.name).error("%s", error)
            sys.exit(error.exit_code)


def config_paths(argv: Sequence[str]) -> list[Path]:
    """The files given with `--config` (`--config FILE` or `--config=FILE`), without `ENV`."""
    paths = []
    for index, argument in enumerate(argv):
        if argument == "--config" and index + 1 < len(argv):
            value = argv[index + 1]
        elif argument.startswith("--config="):
            value = argument.partition("=")[2]
        else:
            continue
        if value != "ENV":
            paths.append(Path(value))
    return paths


def check_config_files(paths: Sequence[Path]) -> None:
    """Each config file exists and holds a JSON object; raise SettingsError naming the file otherwise."""
    for path in paths:
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise SettingsError(f"{path}: cannot read the config file ({error.strerror}).") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SettingsError(f"{path}: the config file is not JSON ({error}).") from None
        if not isinstance(content, dict):
            raise SettingsError(f"{path}: the config file must hold a JSON object.")


def main() -> None:
    """The `tap-hrsource` command: the SDK's tap CLI, with unreadable config files named, not a traceback."""
    try:
        check_config_files(config_paths(sys.argv[1:]))
    except SettingsError as error:
        print(f"tap-hrsource: {error}", file=sys.stderr)  # logging is not set up yet
        sys.exit(error.exit_code)
    TapHRSource.cli()


if __name__ == "__main__":
    main()
