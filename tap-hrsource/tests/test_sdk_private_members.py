"""The singer-sdk internals that tap_hrsource.fast_path relies on still exist with the same shape.

A singer-sdk upgrade that removes or changes one of them fails here, naming the member, instead of
silently slowing the tap down or breaking its output. The list matches the comment next to the
singer-sdk pin in pyproject.toml.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from singer_sdk import Stream
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


SIGNATURES = {
    "singer_sdk.Stream._write_record_message": (
        getattr(Stream, "_write_record_message", None),
        ["self", "record"],
    ),
    "singer_sdk.contrib.msgspec.MsgSpecWriter.format_message": (
        getattr(MsgSpecWriter, "format_message", None),
        ["self", "message"],
    ),
    "singer_sdk.contrib.msgspec.MsgSpecWriter.write_message": (
        getattr(MsgSpecWriter, "write_message", None),
        ["self", "message"],
    ),
}


@pytest.mark.parametrize("member", sorted(SIGNATURES))
def test_overridden_or_called_method_keeps_its_signature(member: str) -> None:
    function, expected = SIGNATURES[member]
    assert function is not None, f"singer-sdk no longer has {member}"
    assert parameters(function) == expected, f"singer-sdk changed the signature of {member}"


def test_stream_version_is_set_in_stream_init() -> None:
    source = inspect.getsource(Stream.__init__)
    assert "self._stream_version" in source, "singer-sdk no longer sets Stream._stream_version in __init__"


def test_type_conformance_level_none_exists() -> None:
    assert hasattr(Stream, "TYPE_CONFORMANCE_LEVEL"), "singer-sdk no longer has Stream.TYPE_CONFORMANCE_LEVEL"
    assert hasattr(TypeConformanceLevel, "NONE"), "singer-sdk no longer has TypeConformanceLevel.NONE"
    source = inspect.getsource(Stream._generate_record_messages)
    assert "self.TYPE_CONFORMANCE_LEVEL" in source, (
        "singer-sdk no longer reads Stream.TYPE_CONFORMANCE_LEVEL when it writes records"
    )


def test_selection_and_stream_map_members_exist() -> None:
    assert isinstance(inspect.getattr_static(Stream, "mask"), property), "singer-sdk changed Stream.mask"
    assert "stream_maps" in dir(Stream), "singer-sdk no longer has Stream.stream_maps"
    assert "flattening_enabled" in dir(SameRecordTransform), (
        "singer-sdk no longer has SameRecordTransform.flattening_enabled"
    )


def test_state_manager_is_flushed_exists() -> None:
    assert isinstance(inspect.getattr_static(Stream, "state_manager"), property), (
        "singer-sdk no longer has Stream.state_manager"
    )
    module = importlib.import_module("singer_sdk.streams._state")
    manager = getattr(module, "StreamStateManager", None)
    assert manager is not None, "singer-sdk no longer has singer_sdk.streams._state.StreamStateManager"
    source = inspect.getsource(manager)
    assert "self.is_flushed" in source, "singer-sdk no longer has StreamStateManager.is_flushed"
    assert "state_manager.is_flushed = False" in inspect.getsource(Stream._write_record_message), (
        "singer-sdk's Stream._write_record_message no longer marks the state unflushed"
    )


def test_sdk_record_path_is_the_one_the_fast_path_replaces() -> None:
    """Selection and stream maps are applied where fast_path assumes, so skipping them when idle is safe."""
    source = inspect.getsource(Stream._generate_record_messages)
    for needle in ("self.stream_maps", "self.mask", "self._stream_version"):
        assert needle in source, f"singer-sdk's record path no longer uses {needle}"
