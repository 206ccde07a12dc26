"""Realistic example datasets, generated with numpy (nothing is downloaded).

``churn`` follows infra/contracts/churn.yaml: churn depends on tenure, plan, charges and
support tickets through a logistic model, so later stages have signal to learn. The
``broken_*`` variants each carry one family of faults the data gate must name.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

PLANS = np.array(["basic", "plus", "pro"])


def churn_table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(1, rows + 1).astype(str), 6))
    names = rng.choice(np.array(["ana", "ben", "chen", "dara", "eli", "femi", "gus", "hana"]), rows)
    emails = np.char.add(np.char.add(names, np.char.add(".", np.arange(rows).astype(str))), "@example.com")
    tenure = rng.integers(0, 72, rows)
    plan_index = rng.choice(3, rows, p=[0.5, 0.3, 0.2])
    charges = np.round(np.array([19.0, 39.0, 79.0])[plan_index] + rng.normal(0, 6, rows).clip(-15, 40), 2)
    tickets = rng.poisson(1.2, rows).astype(float)
    tickets[rng.random(rows) < 0.05] = np.nan  # not every CRM export has the count
    autopay = rng.random(rows) < 0.6
    signup = np.datetime64("2026-11-01") - (tenure * 30 + rng.integers(0, 30, rows)).astype("timedelta64[D]")
    logit = 0.8 - 0.05 * tenure + 0.02 * (charges - 40) + 0.35 * np.nan_to_num(tickets) - 0.6 * autopay
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pa.table(
        {
            "customer_id": pa.array(ids.tolist(), pa.string()),
            "email": pa.array(emails.tolist(), pa.string()),
            "signup_at": pa.array(signup.astype("datetime64[s]")).cast(pa.timestamp("s")),
            "tenure_months": pa.array(tenure, pa.int64()),
            "monthly_charges": pa.array(charges, pa.float64()),
            "plan": pa.array(PLANS[plan_index].tolist(), pa.string()),
            "support_tickets": pa.array(tickets, pa.float64(), from_pandas=True).cast(pa.int64()),
            "autopay": pa.array(autopay),
            "churned": pa.array(churned),
        }
    )


def shifted_churn_table(rows: int, seed: int = 7) -> pa.Table:
    """A population that drifted: long-time customers moved to the pro plan and pay 60 more."""
    table = churn_table(rows, seed=seed)
    tenure = pc.min_element_wise(pc.add(table["tenure_months"], 48), 600)
    table = table.set_column(table.schema.get_field_index("tenure_months"), "tenure_months", tenure)
    charges = pc.add(table["monthly_charges"], 60.0)
    table = table.set_column(table.schema.get_field_index("monthly_charges"), "monthly_charges", charges)
    plan = pa.array(["pro"] * rows, type=table.schema.field("plan").type)
    return table.set_column(table.schema.get_field_index("plan"), "plan", plan)


def write_csv(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))
    text = path.read_text()
    # Arrow writes booleans and timestamps its own way; write them as people do.
    path.write_text(text.replace('"', "").replace("T00:00:00", "").replace(" 00:00:00", ""))
    return path


@dataclass(frozen=True)
class ExampleFile:
    name: str
    expect_valid: bool
    story: str
    make: Callable[[Path], Path]


def _good(folder: Path) -> Path:
    return write_csv(churn_table(2000), folder / "churn_2026-11.csv")


def _bad_values(folder: Path) -> Path:
    path = write_csv(churn_table(300, seed=11), folder / "churn_bad_values.csv")
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",basic,", ",gold,").replace(",plus,", ",gold,").replace(",pro,", ",gold,")
    cells = lines[9].split(",")
    cells[3] = "-3"  # tenure_months below min
    lines[9] = ",".join(cells)
    lines[12] = lines[12].split(",", 1)[0] + ",not-an-email," + lines[12].split(",", 2)[2]
    lines[20] = lines[2]  # a duplicated customer
    cells = lines[30].split(",")
    cells[4] = "inf"
    lines[30] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def _ragged(folder: Path) -> Path:
    path = write_csv(churn_table(200, seed=12), folder / "churn_ragged.csv")
    lines = path.read_text().splitlines()
    lines[7] = ",".join(lines[7].split(",")[:4])
    lines[40] = lines[40] + ",surplus"
    path.write_text("\n".join(lines) + "\n")
    return path


def _latin1(folder: Path) -> Path:
    path = folder / "churn_latin1.csv"
    good = write_csv(churn_table(150, seed=13), path).read_text()
    path.write_bytes(good.replace("ana.", "ana\u00efs.", 1).encode("latin-1"))
    return path


def _gzip_named_csv(folder: Path) -> Path:
    data = write_csv(churn_table(150, seed=14), folder / "tmp.csv").read_bytes()
    (folder / "tmp.csv").unlink()
    path = folder / "churn_export.csv"
    path.write_bytes(gzip.compress(data))
    return path


def _header_only(folder: Path) -> Path:
    path = folder / "churn_header_only.csv"
    header = write_csv(churn_table(1), path).read_text().splitlines()[0]
    path.write_text(header + "\n")
    return path


EXAMPLES: tuple[ExampleFile, ...] = (
    ExampleFile("churn_2026-11.csv", True, "a clean monthly export", _good),
    ExampleFile(
        "churn_bad_values.csv",
        False,
        "unknown plan, negative tenure, bad email, duplicate id, inf",
        _bad_values,
    ),
    ExampleFile("churn_ragged.csv", False, "a short row and a long row", _ragged),
    ExampleFile("churn_latin1.csv", False, "saved as Latin-1, not UTF-8", _latin1),
    ExampleFile("churn_export.csv", False, "gzip content under a .csv name", _gzip_named_csv),
    ExampleFile("churn_header_only.csv", False, "a header and no rows", _header_only),
)


def write_examples(folder: Path) -> list[tuple[ExampleFile, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    return [(example, example.make(folder)) for example in EXAMPLES]
