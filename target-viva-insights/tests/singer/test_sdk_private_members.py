"""The private singer-sdk members the target relies on (see fast_path.py) are still there, as we use them.

The `singer-sdk` pin in pyproject.toml lists the same members. When an SDK upgrade removes or reshapes
one, the test names it, instead of the target failing at run time or silently taking a slower path.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.sinks import BatchSink, Sink
from singer_sdk.target_base import Target
from target_viva_insights.singer import fast_path, reader
from target_viva_insights.target import TargetVivaInsights

# (SDK class, member, the parameter names we call it with or override it with)
METHODS: list[tuple[type, str, list[str]]] = [
    (Target, "_process_record_message", ["self", "message_dict"]),
    (Target, "_process_schema_message", ["self", "message_dict"]),
    (Target, "_write_state_message", ["self", "state"]),
    (Target, "_handle_max_record_age", ["self"]),
    (Target, "drain_one", ["self", "sink"]),
    (PluginBase, "_handle_termination", ["self", "signum", "frame"]),
    (PluginBase, "_validate_config", ["self", "raise_errors"]),
    (Sink, "_validate_and_parse", ["self", "record"]),
    (Sink, "_after_process_record", ["self", "context"]),
    (Sink, "tally_record_read", ["self", "count"]),
    (BatchSink, "_get_context", ["self", "record"]),
    (GenericSingerReader, "process_lines", ["self", "file_input", "callbacks"]),
    (GenericSingerReader, "_process_unknown_message", ["self", "message_dict"]),
    (GenericSingerReader, "assert_line_requires", ["line_dict", "requires"]),
]

# Our overrides of the members above, which must keep the SDK's parameter names.
OVERRIDES: list[tuple[type, type, str]] = [
    (fast_path.DirectRecordTarget, Target, "_process_record_message"),
    (fast_path.DirectRecordTarget, Target, "_process_schema_message"),
    (fast_path.HeldStateTarget, Target, "_write_state_message"),
    (fast_path.TerminationHook, PluginBase, "_handle_termination"),
    (fast_path.CheckedSettingsTarget, PluginBase, "_validate_config"),
    (fast_path.UnparsedRecordsSink, Sink, "_validate_and_parse"),
    (fast_path.DirectRecordSink, Sink, "_after_process_record"),
    (fast_path.LeanMessageReader, GenericSingerReader, "process_lines"),
]

HR_SCHEMA = {"type": "object", "properties": {"PersonId": {"type": "string"}}}


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(("owner", "member", "parameters"), METHODS, ids=lambda value: str(value))
def test_private_method_is_there_with_the_parameters_we_use(owner, member, parameters) -> None:
    function = inspect.getattr_static(owner, member, None)
    assert function is not None, f"singer-sdk no longer has {owner.__name__}.{member}"
    if isinstance(function, staticmethod):
        function = function.__func__
    found = _parameters(function)
    assert found == parameters, (
        f"singer-sdk changed {owner.__name__}.{member}: parameters {found}, the target relies on {parameters}"
    )


@pytest.mark.parametrize(("ours", "theirs", "member"), OVERRIDES, ids=lambda value: str(value))
def test_our_overrides_match_the_sdk_members(ours, theirs, member) -> None:
    assert member in vars(ours), f"{ours.__name__} no longer overrides {member}"
    assert _parameters(getattr(ours, member)) == _parameters(getattr(theirs, member)), (
        f"{ours.__name__}.{member} and singer-sdk's {theirs.__name__}.{member} take different parameters"
    )


def test_private_attributes_the_direct_path_reads() -> None:
    """Built the real way: the target, then the sink and stream map the SDK makes for a SCHEMA message."""
    target = TargetVivaInsights(config={"dry_run": True}, validate_config=True)
    try:
        assert isinstance(getattr(target, "_sinks_active", None), dict), "Target._sinks_active is gone"
        schema_message = {
            "type": "SCHEMA",
            "stream": "hr",
            "schema": HR_SCHEMA,
            "key_properties": ["PersonId"],
        }
        target._process_schema_message(schema_message)
        sink = target.get_sink("hr")
        assert target._sinks_active["hr"] is sink, "Target._sinks_active no longer holds the active sinks"
        assert isinstance(sink, fast_path.DirectRecordSink)
        missing = [
            name
            for name in ("_pending_batch", "_batch_records_read", "_key_properties")
            if not hasattr(sink, name)
        ]
        assert not missing, f"singer-sdk Sink no longer has {', '.join(missing)}"
        assert sink._pending_batch is None, "Sink._pending_batch no longer starts as None"
        assert sink._key_properties == ["PersonId"], "Sink._key_properties no longer holds the key properties"
        assert sink.take_record({"PersonId": "ana@contoso.com"}) is False
        assert sink._pending_batch is not None, "BatchSink._get_context no longer sets Sink._pending_batch"
        assert sink._pending_batch["records"] == [{"PersonId": "ana@contoso.com"}]
        assert sink.current_size == 1
        context = sink.start_drain()  # the direct path's tally reaches the SDK's counters here
        assert context["records"] == [{"PersonId": "ana@contoso.com"}]
        assert sink._batch_records_read == 1, "Sink._batch_records_read no longer counts the batch's records"
        assert sink._pending_batch is None, "Sink.start_drain no longer takes the pending batch"
        sink.mark_drained()
        assert sink.current_size == 0
        (stream_map,) = target.mapper.stream_maps["hr"]
        assert type(stream_map) is SameRecordTransform, (
            "an unmapped stream is no longer a SameRecordTransform"
        )
        assert stream_map.stream_alias == "hr"
        assert stream_map.flattening_enabled is False
        assert target._direct_sink("hr") is sink
    finally:
        target._remove_workdir()


def test_the_reader_still_subclasses_the_sdk_reader() -> None:
    assert issubclass(reader.VivaMessageReader, GenericSingerReader)
    assert not inspect.isabstract(reader.VivaMessageReader), "the SDK reader gained an abstract member"
