"""The Singer SDK's standard target tests, curated the way MeltanoLabs' target-postgres does it.

The standard streams are not HR data (no PersonId, no EffectiveDate), so every class runs in dry run
with `preflight_report_only`: the package is built and Viva's findings are reported, without failing
the run. What the suite checks is Singer conformance: messages, schema changes, keys, encodings.
Viva's rules are tested against HR data in test_validation_rules.py.
"""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCamelcaseTest,
    TargetCliPrintsTest,
    TargetDuplicateRecords,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetOptionalAttributes,
    TargetPrimaryKeyUpdates,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
    TargetRecordMissingOptionalFields,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)
from target_viva_insights.target import TargetVivaInsights

# Some of the SDK's inputs hold a schema and no record: allow_empty lets those runs succeed.
DRY_RUN_REPORT_ONLY = {"dry_run": True, "preflight_report_only": True, "allow_empty": True}

single_stream_tests = SingerTestSuite(
    kind="target",
    tests=[
        TargetArrayData,
        TargetCamelcaseComplexSchema,
        TargetCamelcaseTest,
        TargetCliPrintsTest,
        TargetDuplicateRecords,
        TargetInvalidSchemaTest,
        TargetNoPrimaryKeys,
        TargetOptionalAttributes,
        TargetPrimaryKeyUpdates,
        TargetRecordBeforeSchemaTest,
        TargetRecordMissingKeyProperty,
        TargetRecordMissingOptionalFields,
        TargetSchemaUpdates,  # three SCHEMAs adding columns: parts merged into one data.csv
        TargetSpecialCharsInAttributes,
        # Excluded here, run below with stream_name: TargetEncodedStringData and TargetSchemaNoProperties
        # send several streams, which the target refuses unless stream_name picks the HR stream.
        # Not in the SDK's default suite either: TargetMultipleStateMessages expects a STATE line per
        # input STATE; this target holds STATE back until the package is safe, by design.
    ],
)

TestTargetVivaInsights = get_target_test_class(
    TargetVivaInsights,
    config=DRY_RUN_REPORT_ONLY,
    include_target_tests=False,
    custom_suites=[single_stream_tests],
    suite_config=SuiteConfig(),
)

# Several streams with stream_name set: the chosen one is packaged, the others are read and skipped.
TestEncodedStrings = get_target_test_class(
    TargetVivaInsights,
    config={**DRY_RUN_REPORT_ONLY, "stream_name": "test_strings_in_objects"},
    include_target_tests=False,
    custom_suites=[SingerTestSuite(kind="target", tests=[TargetEncodedStringData])],
)

TestSchemaNoProperties = get_target_test_class(
    TargetVivaInsights,
    config={**DRY_RUN_REPORT_ONLY, "stream_name": "test_object_schema_no_properties"},
    include_target_tests=False,
    custom_suites=[SingerTestSuite(kind="target", tests=[TargetSchemaNoProperties])],
)
