"""tap-hrsource: HR data from file exports and SQL databases, typed, incremental, with monthly snapshots."""

from __future__ import annotations

import logging
import sys
from typing import Any

from singer_sdk import Stream, Tap

from tap_hrsource.errors import HRSourceError
from tap_hrsource.fast_path import BufferedMsgSpecWriter
from tap_hrsource.settings import TAP_SETTINGS, parse_stream_settings
from tap_hrsource.streams import HRFileStream


class TapHRSource(Tap):
    """Singer tap for HR source data."""

    name = "tap-hrsource"
    package_name = "tap-hrsource"
    config_jsonschema = TAP_SETTINGS
    message_writer_class = BufferedMsgSpecWriter

    def discover_streams(self) -> list[Stream]:
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
        """Run the CLI; bad input ends the run with its clear message instead of a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except HRSourceError as error:
            logging.getLogger(cls.name).error("%s", error)
            sys.exit(1)


if __name__ == "__main__":
    TapHRSource.cli()
