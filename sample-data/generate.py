#!/usr/bin/env python3
"""Generate the synthetic HR dataset `sample-data/hr/employees.csv` (deterministic, stdlib only).

About 2,000 people at contoso.com: one CEO, a manager tree, and two years (2024-11-01 .. 2026-10-31)
of hires, terminations, promotions, manager changes and reorganizations as effective-dated rows.

The organization is simulated day by day. After each day with events the derived attributes
(Organization, Layer, SupervisorIndicator) are recomputed from the tree, and every person whose
attributes changed gets a new row effective that day. So the rows are consistent with the tree at
every date: managers are people in the file, no reporting loops, Layer = depth (CEO = 0).

Usage: python3 sample-data/generate.py [--people N] [--output PATH]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20261031
DOMAIN = "contoso.com"
HISTORY_START = dt.date(2024, 11, 1)
HISTORY_END = dt.date(2026, 10, 31)
DEFAULT_PEOPLE = 2000
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "hr" / "employees.csv"

HEADERS = [
    "EmployeeNumber", "PersonId", "ManagerId", "Organization", "FunctionType", "LevelDesignation",
    "Layer", "SupervisorIndicator", "Location", "CountryOrRegion", "HireDate", "EffectiveDate",
    "TerminationDate", "HourlyRate",
]  # fmt: skip

ORGANIZATIONS = {
    "Engineering": ["Software Engineering", "Quality Engineering", "Program Management"],
    "Sales": ["Account Management", "Sales Operations", "Business Development"],
    "Marketing": ["Product Marketing", "Communications", "Market Research"],
    "Finance": ["Financial Planning and Analysis", "Accounting", "Procurement"],
    "Human Resources": ["Talent Acquisition", "People Operations", "Learning"],
    "Operations": ["Supply Chain", "Facilities", "Customer Support"],
    "Legal": ["Corporate Legal", "Compliance"],
    "Research": ["Applied Research", "Data Science"],
}
EXECUTIVE_ORGANIZATION = "Executive Office"
IC_LEVELS = ["Associate", "Professional", "Senior Professional", "Principal"]
MANAGER_LEVELS = ["Manager", "Senior Manager", "Director"]
BASE_RATE = {
    "Associate": 28, "Professional": 38, "Senior Professional": 52, "Principal": 68, "Manager": 60,
    "Senior Manager": 75, "Director": 95, "Vice President": 140, "Chief Executive Officer": 250,
}  # fmt: skip
LOCATIONS = [
    ("Redmond", "United States"), ("New York", "United States"), ("London", "United Kingdom"),
    ("Dublin", "Ireland"), ("Bangalore", "India"), ("Munich", "Germany"), ("Toronto", "Canada"),
    ("Sydney", "Australia"),
]  # fmt: skip
FIRST_NAMES = [
    "ada", "alan", "alex", "amir", "anna", "ben", "carla", "chen", "dana", "david", "elena", "emma",
    "farah", "felix", "grace", "hana", "igor", "ines", "jack", "jana", "kai", "kim", "lars", "lea",
    "leo", "lina", "luca", "maria", "mateo", "mia", "nadia", "noah", "olga", "omar", "paul", "priya",
    "rafael", "rosa", "sam", "sara", "sofia", "tariq", "theo", "uma", "victor", "wen", "yara", "yusuf",
    "zoe",
]  # fmt: skip
LAST_NAMES = [
    "adams", "baker", "brown", "chen", "costa", "diaz", "evans", "fischer", "garcia", "gupta", "hansen",
    "ito", "jones", "kim", "kowalski", "lee", "lopez", "martin", "meyer", "miller", "moreau",
    "nakamura", "nguyen", "novak", "obi", "olsen", "patel", "perez", "rossi", "santos", "schmidt",
    "silva", "singh", "smith", "tanaka", "taylor", "walker", "wang", "weber", "wilson", "young",
    "zhang",
]  # fmt: skip


@dataclass
class Person:
    number: int
    email: str
    manager: Person | None
    function: str
    level: str
    location: tuple[str, str]
    hire_date: dt.date
    rate: float
    reports: list[Person] = field(default_factory=list)
    organization_if_top: str = ""  # only set for the CEO and the VPs: they define the organizations
    terminated_on: dt.date | None = None


class Organization:
    """The simulated company: the tree, the event generators and the effective-dated row log."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[Person] = []
        self.used_emails: set[str] = set()
        self.last_rows: dict[str, list[str]] = {}
        self.rows: list[list[str]] = []

    # -- people -----------------------------------------------------------------------------------
    def new_email(self) -> str:
        while True:
            name = f"{self.rng.choice(FIRST_NAMES)}.{self.rng.choice(LAST_NAMES)}"
            suffix = "" if name not in self.used_emails else str(self.rng.randint(2, 999))
            email = f"{name}{suffix}@{DOMAIN}"
            if name + suffix not in self.used_emails:
                self.used_emails.add(name + suffix)
                return email

    def hire(self, manager: Person | None, level: str, hire_date: dt.date, function: str = "") -> Person:
        organization = self.organization_of(manager) if manager else EXECUTIVE_ORGANIZATION
        person = Person(
            number=len(self.people) + 1,
            email=self.new_email(),
            manager=manager,
            function=function or self.rng.choice(ORGANIZATIONS.get(organization, ["Leadership"])),
            level=level,
            location=manager.location if manager and self.rng.random() < 0.7 else self.rng.choice(LOCATIONS),
            hire_date=hire_date,
            rate=round(BASE_RATE[level] * self.rng.uniform(0.9, 1.15), 2),
        )
        if manager:
            manager.reports.append(person)
        self.people.append(person)
        return person

    def active(self) -> list[Person]:
        return [person for person in self.people if person.terminated_on is None]

    # -- derived attributes -----------------------------------------------------------------------
    @staticmethod
    def layer_of(person: Person) -> int:
        layer = 0
        while person.manager is not None:
            person, layer = person.manager, layer + 1
        return layer

    @staticmethod
    def organization_of(person: Person) -> str:
        while not person.organization_if_top:
            assert person.manager is not None
            person = person.manager
        return person.organization_if_top

    @staticmethod
    def supervisor_indicator(person: Person) -> str:
        if not person.reports:
            return "IC"
        return "Mngr+" if any(report.reports for report in person.reports) else "Mngr"

    def row_of(self, person: Person, effective: dt.date) -> list[str]:
        return [
            f"{person.number:06d}",
            person.email,
            person.manager.email if person.manager else "",
            self.organization_of(person),
            person.function,
            person.level,
            str(self.layer_of(person)),
            self.supervisor_indicator(person),
            person.location[0],
            person.location[1],
            person.hire_date.isoformat(),
            effective.isoformat(),
            person.terminated_on.isoformat() if person.terminated_on else "",
            f"{person.rate:.2f}",
        ]

    def record_changes(self, day: dt.date, touched: list[Person]) -> None:
        """Append a row effective `day` for every touched person whose attributes changed."""
        for person in touched:
            row = self.row_of(person, day)
            previous = self.last_rows.get(person.email)
            if previous is None or previous[:11] + previous[12:] != row[:11] + row[12:]:
                self.rows.append(row)
                self.last_rows[person.email] = row

    # -- events -----------------------------------------------------------------------------------
    def managers_below_vp(self) -> list[Person]:
        return [p for p in self.active() if p.level in MANAGER_LEVELS and self.layer_of(p) >= 2]

    def hire_event(self, day: dt.date) -> list[Person]:
        manager = self.rng.choice(self.managers_below_vp())
        return [self.hire(manager, self.rng.choice(IC_LEVELS[:3]), day), manager]

    def termination_event(self, day: dt.date) -> list[Person]:
        candidates = [p for p in self.active() if self.layer_of(p) >= 2]
        person = self.rng.choice(candidates)
        manager = person.manager
        assert manager is not None
        person.terminated_on = day
        manager.reports.remove(person)
        moved = list(person.reports)
        for report in moved:  # the skip-level manager takes the team over on the same day
            report.manager = manager
            manager.reports.append(report)
        person.reports.clear()
        return [person, manager, *moved, *self.subtree(moved)]

    def promotion_event(self, _day: dt.date) -> list[Person]:
        candidates = [p for p in self.active() if p.level in IC_LEVELS[:-1] or p.level in MANAGER_LEVELS[:-1]]
        person = self.rng.choice(candidates)
        ladder = IC_LEVELS if person.level in IC_LEVELS else MANAGER_LEVELS
        person.level = ladder[ladder.index(person.level) + 1]
        person.rate = round(max(person.rate * 1.08, BASE_RATE[person.level]), 2)
        return [person]

    def manager_change_event(self, _day: dt.date) -> list[Person]:
        person = self.rng.choice([p for p in self.active() if not p.reports and self.layer_of(p) >= 3])
        old, new = person.manager, self.rng.choice(self.managers_below_vp())
        if old is None or new is old or new is person:
            return []
        old.reports.remove(person)
        new.reports.append(person)
        person.manager = new
        return [person, old, new]

    def reorganization_event(self, _day: dt.date) -> list[Person]:
        """Move a director's whole team under another VP: the team's Organization changes."""
        vps = [p for p in self.active() if p.level == "Vice President"]
        directors = [p for p in self.active() if p.manager in vps and p.reports]
        director = self.rng.choice(directors)
        old = director.manager
        assert old is not None
        new = self.rng.choice([vp for vp in vps if vp is not old])
        old.reports.remove(director)
        new.reports.append(director)
        director.manager = new
        return [director, old, new, *self.subtree([director])]

    @staticmethod
    def subtree(roots: list[Person]) -> list[Person]:
        found, stack = [], list(roots)
        while stack:
            person = stack.pop()
            found.extend(person.reports)
            stack.extend(person.reports)
        return found


def random_hire_date(rng: random.Random) -> dt.date:
    return HISTORY_START - dt.timedelta(days=rng.randint(30, 365 * 15))


def build_initial_tree(org: Organization, people: int) -> None:
    """CEO, one VP per organization, directors, managers and individual contributors."""
    rng = org.rng
    ceo = org.hire(None, "Chief Executive Officer", random_hire_date(rng), function="Leadership")
    ceo.organization_if_top = EXECUTIVE_ORGANIZATION
    for name in ORGANIZATIONS:
        vp = org.hire(ceo, "Vice President", random_hire_date(rng), function="Leadership")
        vp.organization_if_top = name
    vps = list(ceo.reports)
    directors = [org.hire(rng.choice(vps), "Director", random_hire_date(rng)) for _ in range(24)]
    managers = [
        org.hire(rng.choice(directors), rng.choice(MANAGER_LEVELS[:2]), random_hire_date(rng))
        for _ in range(people // 9)
    ]
    while len(org.people) < people:
        org.hire(rng.choice(managers), rng.choice(IC_LEVELS), random_hire_date(rng))
    org.record_changes(HISTORY_START, org.people)


def events_today(rng: random.Random, rate: float) -> int:
    """How many events of a kind happen on one working day, for a mean of `rate`."""
    return int(rate) + (rng.random() < rate - int(rate))


def simulate_history(org: Organization) -> None:
    """Per working day about one hire and one leaver, promotions and moves; two reorganizations a year."""
    rng = org.rng
    day = HISTORY_START + dt.timedelta(days=1)
    reorganized_months: set[tuple[int, int]] = set()
    while day <= HISTORY_END:
        if day.weekday() < 5:
            events = [org.hire_event] * events_today(rng, 1.0) + [org.termination_event] * events_today(
                rng, 0.9
            )
            events += [org.promotion_event] * events_today(rng, 0.5)
            events += [org.manager_change_event] * events_today(rng, 0.4)
            if day.month in (3, 9) and (day.year, day.month) not in reorganized_months:
                reorganized_months.add((day.year, day.month))
                events.append(org.reorganization_event)
            touched: list[Person] = []
            for event in events:
                touched.extend(event(day))
            org.record_changes(day, touched)
        day += dt.timedelta(days=1)


def render_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(sorted(rows, key=lambda row: (row[11], row[0])))
    return buffer.getvalue().encode("utf-8")


def generate(people: int = DEFAULT_PEOPLE, seed: int = SEED) -> bytes:
    org = Organization(random.Random(seed))  # noqa: S311 - reproducible sample data, not secrets
    build_initial_tree(org, people)
    simulate_history(org)
    return render_csv(org.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(generate(args.people))


if __name__ == "__main__":
    main()
