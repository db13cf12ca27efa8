"""Digests: the numpy fast paths (fingerprint cache, bucket index, read-ahead) agree with the plain
definitions, for any text."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from target_viva_insights.ledger.digest_index import DigestIndex
from target_viva_insights.ledger.digests import DigestAlgorithm, Digester, digest_batch
from target_viva_insights.ledger.prefetch import prefetched
from target_viva_insights.rules import DateOrder

KEY = b"k" * 32
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
blanks = st.text(alphabet=st.sampled_from(" \t\x1c\x1f\u0085\u00a0\u2028\u3000"), max_size=4)


def expected(digester: Digester, values: list[str | None]) -> list[int]:
    return [
        int(digester.null) if value is None or not value.strip() else digester.digest_text(value)
        for value in values
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), texts, blanks, st.sampled_from(["a", "a\u3000"])))))
def test_digests_of_values_equal_their_definition_batch_after_batch(batches: list[list[str | None]]) -> None:
    digester = Digester(KEY)
    for values in batches:  # later batches go through the cache
        assert digester.digest_values(pa.array(values, pa.string())).tolist() == expected(digester, values)


def test_every_character_arrow_trims_starts_with_a_byte_the_blank_check_looks_at() -> None:
    import pyarrow.compute as pc
    from target_viva_insights.ledger.digests import WHITESPACE_FIRST_BYTES, blank_values

    characters = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    trimmed_away = pc.equal(pc.utf8_trim_whitespace(pa.array(characters)), "").to_pylist()
    whitespace = [character for character, blank in zip(characters, trimmed_away, strict=True) if blank]
    assert {character.encode()[0] for character in whitespace} <= set(WHITESPACE_FIRST_BYTES)
    assert blank_values(pa.array(whitespace)).all()
    assert not blank_values(pa.array(["\u200b", "x ", "\ufeff"])).any()


def test_both_algorithms_and_the_key_change_every_digest() -> None:
    values = pa.array(["ada@contoso.com", "Sales"])
    blake = Digester(KEY).digest_values(values)
    hmac = Digester(KEY, DigestAlgorithm.HMAC_SHA256).digest_values(values)
    other_key = Digester(b"x" * 32).digest_values(values)
    assert len({*blake.tolist(), *hmac.tolist(), *other_key.tolist()}) == 6


def test_a_slice_of_a_larger_array_digests_like_a_fresh_one() -> None:
    values = pa.array([f"person{i}@contoso.com" for i in range(1000)])
    digester = Digester(KEY)
    assert digester.digest_values(values.slice(500, 10)).tolist() == expected(
        digester, values.slice(500, 10).to_pylist()
    )


def test_rows_digest_the_same_whether_dictionary_encoded_or_not() -> None:
    table = pa.table(
        {"PersonId": ["a@x.com", "b@x.com", "a@x.com"], "EffectiveDate": ["01/01/2026", None, ""]}
    )
    encoded = pa.table([pc_dictionary(column) for column in table.columns], names=table.column_names)
    plain = digest_batch(Digester(KEY), table, DateOrder.MDY)
    coded = digest_batch(Digester(KEY), encoded, DateOrder.MDY)
    assert plain.key.tolist() == coded.key.tolist()
    assert plain.value.tolist() == coded.value.tolist()
    assert plain.date.tolist() == [20454, -1, -1]


def pc_dictionary(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks().dictionary_encode()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=3000),
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=300),
)
def test_the_bucket_index_finds_what_a_binary_search_finds(held: list[int], probes: list[int]) -> None:
    digests = np.unique(np.array(held, dtype=np.uint64))
    needles = np.array(probes + held[:50], dtype=np.uint64)
    found, position = DigestIndex(digests).find(needles)
    assert found.tolist() == np.isin(needles, digests).tolist()
    assert (digests[position[found]] == needles[found]).all()


def test_prefetch_keeps_order_and_raises_the_producers_error_in_place() -> None:
    def items():
        yield from range(5)
        raise ValueError("row 6 cannot be read")

    seen = []
    with pytest.raises(ValueError, match="row 6"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_prefetch_stops_its_thread_when_the_consumer_stops() -> None:
    def endless():
        number = 0
        while True:
            yield number
            number += 1

    before = threading.active_count()
    batches = prefetched(endless())
    assert [next(batches) for _ in range(3)] == [0, 1, 2]
    batches.close()
    assert threading.active_count() == before


def test_a_paced_file_lets_its_reader_only_so_far_ahead() -> None:
    import io
    import time

    from target_viva_insights.ledger.prefetch import PacedFile

    paced = PacedFile(io.BytesIO(b"x" * 100), ahead=2)
    got: list[bytes] = []

    def read_five() -> None:
        for _ in range(5):
            got.append(paced.read(10))

    def settled_at(count: int) -> bool:
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # time for a read too many to show
        return len(got) == count

    reader = threading.Thread(target=read_five, daemon=True)
    reader.start()
    assert settled_at(2)  # two reads went ahead; the third waits for a block to be used
    paced.used_one()
    assert settled_at(3)
    paced.release()  # the consumer is gone: the reader may run to its end
    reader.join(timeout=5)
    assert b"".join(got) == b"x" * 50


def test_a_reader_that_needs_more_blocks_is_late_not_stuck(monkeypatch) -> None:
    import io

    from target_viva_insights.ledger import prefetch

    monkeypatch.setattr(prefetch, "PATIENCE_SECONDS", 0.05)
    paced = prefetch.PacedFile(io.BytesIO(b"y" * 30), ahead=1)
    assert [paced.read(10) for _ in range(4)] == [b"y" * 10] * 3 + [b""]  # nobody marks a block used
