"""A synthetic Jinjiang-like population for enrollment, and a command-line importer with a progress bar.

    python -m devstack.population generate --persons 20000 --seed 1 > var/population.csv
    python -m devstack.population import var/population.csv --gateway http://127.0.0.1:8000

Rows have the columns of POST /api/v1/enrollment/imports/persons. Hukou codes are the villages and
grid cells of services/enrollment/data/regions.csv (read as a plain file: devstack imports no service),
weighted by their hukou baseline. About 96% of persons are enrolled (the seeds' coverage), employees
among the working-age, residents otherwise, with 资助参保 groups among residents.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx

from devstack.demo import _CHECK, _WEIGHTS, GIVEN, SURNAMES
from devstack.tokens import development_token
from shared.auth import Role

REGIONS_CSV = Path(__file__).resolve().parents[1] / "services" / "enrollment" / "data" / "regions.csv"
COLUMNS = (
    "id_number", "name", "hukou_region_code", "residence_region_code",
    "scheme", "year", "employer_code", "contribution_base", "assistance_category",
)  # fmt: skip
COVERAGE = 0.96  # share enrolled, near Quanzhou's 96.57%
ASSISTANCE = (
    ("extreme_poverty", 0.004),
    ("minimum_living", 0.025),
    ("poverty_risk", 0.01),
    ("severe_disability", 0.008),
)


def leaf_regions(text: str) -> list[tuple[str, int]]:
    """(code, hukou baseline) of every region without children: where persons live."""
    rows = list(csv.DictReader(io.StringIO(text)))
    parents = {r["parent_code"] for r in rows}
    return [(r["code"], int(r["hukou_population"] or 0)) for r in rows if r["code"] not in parents]


def _id_number(rng: random.Random, born: date, used: set[str]) -> str:
    while True:
        first17 = f"350582{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
        number = first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]
        if number not in used:
            used.add(number)
            return number
        born += timedelta(days=1)  # that day's 1,000 sequence numbers may run out in a big population


def _birth_date(rng: random.Random, today: date) -> date:
    # A pyramid-ish age mix: more working-age, fewer very old and newborns.
    age = min(99, max(0, int(rng.triangular(0, 95, 38))))
    return today - timedelta(days=age * 365 + rng.randrange(0, 365))


def generate(persons: int, *, seed: int = 2026, year: int | None = None, today: date | None = None,
             regions_text: str | None = None) -> Iterator[dict[str, str]]:  # fmt: skip
    """`persons` rows, reproducible for a seed."""
    rng = random.Random(seed)
    today = today or date.today()
    year = year or today.year
    leaves = leaf_regions(regions_text if regions_text is not None else REGIONS_CSV.read_text(encoding="utf-8"))
    codes, weights = [c for c, _ in leaves], [max(w, 1) for _, w in leaves]
    employers = [f"91350582POP{n:05d}" for n in range(1, 400)]
    used: set[str] = set()
    for _ in range(persons):
        born = _birth_date(rng, today)
        hukou = rng.choices(codes, weights)[0]
        row = {c: "" for c in COLUMNS}
        row |= {
            "id_number": _id_number(rng, born, used),
            "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            "hukou_region_code": hukou,
            "residence_region_code": hukou if rng.random() < 0.85 else rng.choice(codes),
        }
        if rng.random() < COVERAGE:
            age = today.year - born.year
            row["year"] = str(year)
            if 18 <= age < 60 and rng.random() < 0.45:
                row |= {
                    "scheme": "employee",
                    "employer_code": rng.choice(employers),
                    "contribution_base": f"{rng.randrange(4000, 20001, 100)}.00",
                }
            else:
                row["scheme"] = "resident"
                draw = rng.random()
                for category, share in ASSISTANCE:
                    if draw < share:
                        row["assistance_category"] = category
                        break
                    draw -= share
        yield row


# The kinds POST /api/v1/enrollment/imports/{kind} takes (services.enrollment.imports.ImportKind).
IMPORT_KINDS = ("persons", "deaths", "rosters", "baselines")


def write_csv(rows: Iterator[dict[str, str]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def import_file(
    path: Path, gateway: str, *, chunk: int = 5000, kind: str = "persons", parallel: int = 2
) -> dict[str, int]:
    """Post the CSV file in chunks to the import API (persons, deaths, rosters or baselines), `parallel` chunks at
    a time, drawing a progress bar; returns the summed report. Each chunk is one transaction, so a re-run after a
    failure finds what was applied unchanged. Two chunks in flight keep both the service and its database busy."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    ops = {"Authorization": f"Bearer {development_token(Role.OPS, 'population-import')}", "Content-Type": "text/csv"}
    totals = {"rows": 0, "applied": 0, "unchanged": 0, "rejected": 0}
    done = 0

    def post(client: httpx.Client, start: int) -> tuple[int, dict[str, Any]]:
        part = "\n".join([header, *body[start : start + chunk]])
        answer = client.post(f"/api/v1/enrollment/imports/{kind}", content=part.encode(), headers=ops)
        answer.raise_for_status()
        report: dict[str, Any] = answer.json()
        return start, report

    with httpx.Client(base_url=gateway, timeout=600) as client, ThreadPoolExecutor(max(parallel, 1)) as pool:
        for future in as_completed([pool.submit(post, client, start) for start in range(0, len(body), chunk)]):
            start, report = future.result()
            for key in ("rows", "applied", "unchanged"):
                totals[key] += report[key]
            totals["rejected"] += len(report["rejected"])
            for rejection in report["rejected"]:  # line numbers of the chunk → of the file
                print(f"\nline {rejection['line'] + start}: {rejection['reason']}", file=sys.stderr)
            done += min(chunk, len(body) - start)
            bar = "#" * (30 * done // max(len(body), 1))
            print(f"\r[{bar:<30}] {done}/{len(body)} rows", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.population", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a population CSV to stdout")
    gen.add_argument("--persons", type=int, default=20_000)
    gen.add_argument("--seed", type=int, default=2026)
    imp = sub.add_parser("import", help="import a CSV file (persons by default) through the gateway")
    imp.add_argument("file", type=Path)
    imp.add_argument("--gateway", default="http://127.0.0.1:8000")
    imp.add_argument("--chunk", type=int, default=5000)
    imp.add_argument("--parallel", type=int, default=2, help="chunks in flight at once")
    imp.add_argument("--kind", choices=IMPORT_KINDS, default="persons", help="what the file holds")
    args = parser.parse_args(argv)
    if args.command == "generate":
        write_csv(generate(args.persons, seed=args.seed), sys.stdout)
        return 0
    print(import_file(args.file, args.gateway, chunk=args.chunk, kind=args.kind, parallel=args.parallel))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
