#!/usr/bin/env python3
"""Write a Singer stream of effective-dated HR snapshots that passes Viva Insights' rules.

Usage: python bench/generate_hr_stream.py N OUT_FILE

Output: one SCHEMA message for stream `employees`, exactly N RECORD lines, one STATE message.
The org has about N/13 people, each with up to 13 consecutive monthly snapshots (EffectiveDate is
the first of a month). Standard library only and a fixed seed, so every run writes the same bytes.

Why the data is valid:
- People are numbered in breadth-first order of the manager tree, so every manager has a smaller
  index than their reports. Any prefix of the people is therefore a complete tree with the same
  single top leader; the last month (which holds the N % people remainder) emits such a prefix.
- Layer is the depth in the tree and SupervisorIndicator is recomputed per snapshot from who
  actually reports to whom in that snapshot (IC, Mngr, Mngr+ = manages at least one manager).
- Every HireDate lies before the first snapshot month.
Memory: one month of people (about N/13 small tuples); records are written as they are made.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

STREAM = "employees"
SEED = 20261126
MONTHS = 13  # Viva recommends 13 monthly snapshots for a first import.
FIRST_MONTH = dt.date(2025, 10, 1)
DOMAIN = "contoso.com"

FIRST_NAMES = (
    "ada", "alan", "amara", "ana", "ben", "carla", "chen", "dana", "diego", "elena", "emma", "farah",
    "felix", "grace", "hana", "ivan", "jonas", "kai", "lena", "liam", "maya", "mohammed", "nina",
    "noah", "olga", "omar", "priya", "quinn", "rosa", "sam", "sofia", "tariq", "uma", "victor",
    "wei", "yara", "zoe",
)  # fmt: skip
LAST_NAMES = (
    "adams", "baker", "costa", "dubois", "evans", "fischer", "garcia", "haddad", "ito", "jensen",
    "kowalski", "lopez", "muller", "nakamura", "okafor", "patel", "quispe", "rossi", "silva",
    "tanaka", "umar", "vargas", "wang", "xu", "yilmaz", "zhang",
)  # fmt: skip
ORGANIZATIONS = (
    "Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations",
    "Customer Success", "Legal", "Research", "Product",
)  # fmt: skip
FUNCTION_TYPES = ("Engineering", "Sales", "Marketing", "Finance", "HR", "Operations", "Support", "Legal")
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
# LevelDesignation by layer; deeper layers reuse the last entries.
MANAGER_LEVELS = ("Executive", "Vice President", "Director", "Senior Manager", "Manager")
IC_LEVELS = ("Principal", "Senior", "Intermediate", "Junior")
FTE_CHOICES = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.8, 0.5)
MIN_SPAN, MAX_SPAN = 3, 9  # span of control: reports per manager

NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMA = {
    "type": "SCHEMA",
    "stream": STREAM,
    "key_properties": ["PersonId", "EffectiveDate"],
    "bookmark_properties": ["EffectiveDate"],
    "schema": {
        "type": "object",
        "properties": {
            "PersonId": {"type": "string"},
            "ManagerId": NULLABLE_STRING,
            "Organization": {"type": "string"},
            "FunctionType": NULLABLE_STRING,
            "LevelDesignation": NULLABLE_STRING,
            "Layer": {"type": ["integer", "null"]},
            "SupervisorIndicator": NULLABLE_STRING,
            "Region": NULLABLE_STRING,
            "HireDate": {"type": ["string", "null"], "format": "date"},
            "EffectiveDate": {"type": "string", "format": "date"},
            "FTE": {"type": ["number", "null"]},
            "IsRemote": {"type": ["boolean", "null"]},
        },
        "required": ["PersonId", "Organization", "EffectiveDate"],
    },
}


class Person(NamedTuple):
    """What stays the same for a person across all snapshots."""

    person_id: str
    manager: int  # index of the manager, -1 for the top leader
    layer: int
    organization: str
    function_type: str
    region: str
    hire_date: str
    fte: float
    is_remote: bool


def month_starts(count: int) -> list[str]:
    """ISO dates of `count` consecutive month starts from FIRST_MONTH."""
    dates = []
    for offset in range(count):
        year, month = divmod(FIRST_MONTH.month - 1 + offset, 12)
        dates.append(dt.date(FIRST_MONTH.year + year, month + 1, 1).isoformat())
    return dates


def manager_indices(count: int, rng: random.Random) -> list[int]:
    """Manager of each person in breadth-first order: person 0 leads, reports follow their manager."""
    managers = [-1]
    head, slots = 0, rng.randint(MIN_SPAN, MAX_SPAN)
    for _ in range(1, count):
        if slots == 0:
            head, slots = head + 1, rng.randint(MIN_SPAN, MAX_SPAN)
        managers.append(head)
        slots -= 1
    return managers


def build_people(count: int, rng: random.Random) -> list[Person]:
    """The whole org; Organization is inherited from the layer-1 leader of each branch."""
    hire_start = dt.date(2008, 1, 1).toordinal()
    hire_end = (FIRST_MONTH - dt.timedelta(days=1)).toordinal()
    people: list[Person] = []
    for index, manager in enumerate(manager_indices(count, rng)):
        if manager < 0:
            layer, organization = 0, "Executive Office"
        elif manager == 0:
            layer, organization = 1, ORGANIZATIONS[index % len(ORGANIZATIONS)]
        else:
            layer, organization = people[manager].layer + 1, people[manager].organization
        name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{index}"
        people.append(
            Person(
                person_id=f"{name}@{DOMAIN}",
                manager=manager,
                layer=layer,
                organization=organization,
                function_type=rng.choice(FUNCTION_TYPES),
                region=rng.choice(REGIONS),
                hire_date=dt.date.fromordinal(rng.randint(hire_start, hire_end)).isoformat(),
                fte=rng.choice(FTE_CHOICES),
                is_remote=rng.random() < 0.3,
            )
        )
    return people


def supervisor_indicators(people: list[Person], present: int) -> list[str]:
    """IC / Mngr / Mngr+ for the first `present` people, from the reports present in the snapshot."""
    reports = [0] * present
    for person in people[1:present]:
        reports[person.manager] += 1
    manages_manager = [False] * present
    for index in range(1, present):
        if reports[index]:
            manages_manager[people[index].manager] = True
    return ["Mngr+" if manages_manager[i] else "Mngr" if reports[i] else "IC" for i in range(present)]


def level_designation(layer: int, indicator: str) -> str:
    """A level title that fits the person's place in the tree."""
    if indicator == "IC":
        return IC_LEVELS[min(max(layer - 2, 0), len(IC_LEVELS) - 1)]
    return MANAGER_LEVELS[min(layer, len(MANAGER_LEVELS) - 1)]


def snapshot_records(people: list[Person], present: int, effective_date: str) -> Iterator[dict]:
    """RECORD messages for one monthly snapshot of the first `present` people."""
    indicators = supervisor_indicators(people, present)
    for index in range(present):
        person = people[index]
        yield {
            "type": "RECORD",
            "stream": STREAM,
            "record": {
                "PersonId": person.person_id,
                "ManagerId": people[person.manager].person_id if person.manager >= 0 else None,
                "Organization": person.organization,
                "FunctionType": person.function_type,
                "LevelDesignation": level_designation(person.layer, indicators[index]),
                "Layer": person.layer,
                "SupervisorIndicator": indicators[index],
                "Region": person.region,
                "HireDate": person.hire_date,
                "EffectiveDate": effective_date,
                "FTE": person.fte,
                "IsRemote": person.is_remote,
            },
        }


def write_stream(total: int, out: TextIO) -> None:
    """SCHEMA, exactly `total` RECORDs in month order, then the STATE bookmark."""
    rng = random.Random(SEED)
    people = build_people(max(1, math.ceil(total / MONTHS)), rng)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    out.write(dumps(SCHEMA) + "\n")
    remaining, last_date = total, None
    for effective_date in month_starts(MONTHS):
        present = min(len(people), remaining)
        if present == 0:
            break
        out.writelines(dumps(message) + "\n" for message in snapshot_records(people, present, effective_date))
        remaining -= present
        last_date = effective_date
    state = {"bookmarks": {STREAM: {"replication_key": "EffectiveDate", "replication_key_value": last_date}}}
    out.write(dumps({"type": "STATE", "value": state}) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    with Path(argv[1]).open("w", encoding="utf-8", buffering=1 << 20) as out:
        write_stream(int(argv[0]), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
