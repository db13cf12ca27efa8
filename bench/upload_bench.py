#!/usr/bin/env python3
"""Upload benchmark: a large package streamed to the emulator; the client's peak RSS and throughput.

    .venv/bin/python bench/upload_bench.py [--size-mb 520] [--work-dir bench/.work]

Builds a stored (uncompressed) zip of at least --size-mb MB (data.csv + metadata.json), starts the
emulator as a real process, and uploads the zip with `deliver_package` (await_status none) in a child
process that reports its own peak RSS (ru_maxrss) and the upload time. Checks that the emulator kept
exactly the bytes sent. The client's peak RSS must stay under 100 MB whatever the zip size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TENANT_ID = "6f1c2a7e-0000-4000-8000-00000000b001"
CLIENT_ID = "0b4d9c3e-0000-4000-8000-00000000b002"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - the local emulator's throwaway secret
RSS_LIMIT_MB = 100
METADATA = {
    "DatasetType": "HR",
    "IsBootstrap": "true",
    "Mapping": {
        "PersonId": {"name": "PersonId", "type": "EmailType"},
        "ManagerId": {"name": "ManagerId", "type": "EmailType"},
        "Organization": {"name": "Organization", "type": "StringType"},
        "EffectiveDate": {"name": "EffectiveDate", "type": "DateTime_MMDDYYYY"},
    },
}


def build_package(path: Path, size_mb: int) -> Path:
    """A stored zip whose data.csv has enough synthetic rows to reach `size_mb` MB."""
    target = size_mb * 1024 * 1024
    if path.exists() and path.stat().st_size >= target:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rows_per_block = 20_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(METADATA))
        with archive.open("data.csv", "w", force_zip64=True) as data:
            data.write(b"PersonId,ManagerId,Organization,EffectiveDate\n")
            written, person = 0, 0
            while written < target:
                block = "".join(
                    f"person{n:09d}@contoso.com,manager{n // 8:08d}@contoso.com,Org{n % 97},01/01/2026\n"
                    for n in range(person, person + rows_per_block)
                ).encode()
                data.write(block)
                written += len(block)
                person += rows_per_block
    return path


def child(config_file: Path, package: Path) -> None:
    """Runs in its own process so that ru_maxrss is the client's alone."""
    from target_viva_insights.settings import settings_with_defaults
    from target_viva_insights.upload.client import deliver_package

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    config = json.loads(config_file.read_text())
    started = time.perf_counter()
    ingestion = deliver_package(
        settings_with_defaults(config), package, package.parent, logging.getLogger("bench")
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"id": ingestion["Id"], "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=520)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child)
        return 0

    from target_viva_insights.emulator.process import running_emulator

    work = arguments.work_dir.resolve()
    package = build_package(work / f"bench-{arguments.size_mb}mb.zip", arguments.size_mb)
    size = package.stat().st_size
    print(f"package: {package} ({size / 1e6:.0f} MB)")
    with running_emulator(
        work / "emulator", tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as emulator:
        config_file = work / "config.json"
        config_file.write_text(json.dumps(emulator.config(await_status="none")))
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(config_file), str(package)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            return 1
        measured = json.loads(result.stdout.splitlines()[-1])
        (kept,) = [item for item in emulator.state()["ingestions"] if item["Id"] == measured["id"]]
        same = _sha256(Path(kept["Upload"])) == _sha256(package)
    throughput = size / 1e6 / measured["seconds"]
    print(f"upload (ping, scale unit, token and POST): {measured['seconds']:.1f} s, {throughput:.0f} MB/s")
    print(f"client peak RSS: {measured['peak_rss_mb']:.0f} MB (limit {RSS_LIMIT_MB} MB)")
    print(f"bytes kept by the emulator identical to the zip: {same}")
    return 0 if same and measured["peak_rss_mb"] < RSS_LIMIT_MB else 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
