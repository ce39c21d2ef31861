"""Write the synthetic CRM exports under examples/salesforce/ and examples/hubspot/ (deterministic).

    python examples/make_crm_examples.py

They are made up (no real person or company), but shaped like the real thing: the column names, value spellings,
date formats and encodings of a Salesforce lead report export (Windows-1252, US dates, "Closed - Converted") and
of a HubSpot contacts export with its activities (UTF-8 with a byte-order mark, "closedwon", activity types as
HubSpot names them). Each has a few hundred leads whose outcome depends on the source, the firm, the title and,
for HubSpot, on the engagement before the lead became sales-qualified, so a model has something to learn.
`tests/test_examples.py` checks that this script reproduces the committed files.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

FIRST = ["Anna", "Björn", "Chloé", "Diego", "Eva", "François", "Greta", "Hugo", "Inés", "Jonas", "Karin", "Luis"]
LAST = ["Müller", "García", "Dubois", "Rossi", "Nowak", "Jansen", "Peña", "Lindqvist", "Costa", "Öztürk", "Keller"]
COMPANY = ["Nordwind", "Soleil", "Alpina", "Brisa", "Kestrel", "Lumen", "Vireo", "Castell", "Mirador", "Tundra"]
SUFFIX = ["GmbH", "SA", "AG", "S.L.", "B.V.", "Ltd", "Inc."]
INDUSTRIES = {"Banking": 0.3, "Technology": 0.5, "Retail": -0.3, "Manufacturing": 0.1, "Healthcare": 0.2, "": 0.0}
COUNTRIES = ["Germany", "France", "Spain", "Netherlands", "Switzerland", "United Kingdom"]
TITLES = {"CEO": 0.6, "VP Sales": 0.5, "Head of IT": 0.4, "IT Manager": 0.2, "Analyst": -0.3, "Intern": -0.8}


def _people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    first = rng.choice(FIRST, n)
    last = rng.choice(LAST, n)
    company = [f"{a} {b}" for a, b in zip(rng.choice(COMPANY, n), rng.choice(SUFFIX, n), strict=True)]
    email = [f"{_ascii(f)}.{_ascii(g)}{i}@example.com" for i, (f, g) in enumerate(zip(first, last, strict=True))]
    phone = [f"+49 30 {rng.integers(1000000, 9999999)}" for _ in range(n)]
    return pd.DataFrame({"first": first, "last": last, "company": company, "email": email, "phone": phone})


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def salesforce(n: int = 600, seed: int = 14) -> pd.DataFrame:
    """A Salesforce "Leads" report export: one row a lead, Lead Status as the outcome."""
    rng = np.random.default_rng(seed)
    people = _people(rng, n)
    created = pd.Timestamp("2024-01-02") + pd.to_timedelta(np.sort(rng.uniform(0, 540, n)), unit="D")
    sources = {"Web": 0.4, "Partner Referral": 0.9, "Phone Inquiry": 0.6, "Trade Show": 0.0, "Purchased List": -1.0}
    source = rng.choice(list(sources), n, p=[0.35, 0.1, 0.15, 0.15, 0.25])
    industry = rng.choice(list(INDUSTRIES), n)
    title = rng.choice(list(TITLES), n)
    employees = np.round(np.exp(rng.normal(5, 1.5, n))).astype(int)
    revenue = employees * rng.uniform(80_000, 250_000, n)
    logit = (
        -1.6
        + np.vectorize(sources.get)(source)
        + np.vectorize(INDUSTRIES.get)(industry)
        + np.vectorize(TITLES.get)(title)
        + 0.25 * (np.log(employees) - 5)
    )
    won = rng.random(n) < _sigmoid(logit)
    age_days = (created.max() - created).days.to_numpy()
    closed = rng.random(n) < np.clip(age_days / 60, 0.0, 1.0)  # the newest leads are mostly still open
    status = np.where(
        closed,
        np.where(won, "Closed - Converted", "Closed - Not Converted"),
        rng.choice(["Open - Not Contacted", "Working - Contacted"], n),
    )
    rating = np.where(rng.random(n) < _sigmoid(logit + 0.5), "Hot", np.where(rng.random(n) < 0.5, "Warm", "Cold"))
    converted = created + pd.to_timedelta(rng.gamma(3.0, 12.0, n), unit="D")
    last_activity = created + pd.to_timedelta(rng.uniform(0, 90, n), unit="D")
    us = "%m/%d/%Y"
    return pd.DataFrame(
        {
            "Lead ID": [f"00Q5g00000{i:05d}AB" for i in range(n)],
            "First Name": people["first"],
            "Last Name": people["last"],
            "Title": title,
            "Company / Account": people["company"],
            "Email": people["email"],
            "Phone": people["phone"],
            "Lead Source": source,
            "Lead Status": status,
            "Rating": rating,
            "Industry": industry,
            "Annual Revenue": np.round(revenue, -3).astype(int),
            "No. of Employees": employees,
            "Country": rng.choice(COUNTRIES, n),
            "Create Date": created.strftime(us),
            "Converted Date": np.where(status == "Closed - Converted", converted.strftime(us), ""),
            "Last Activity": last_activity.strftime(us),
            "Lead Owner": rng.choice(["Alex Meyer", "Bea Schmidt", "Chris Wolf"], n),
        }
    )


HUBSPOT_TYPES = {
    # activity type -> (more likely for leads that will close, pre-decision weight)
    "Page view": 0.0,
    "Marketing email click": 0.1,
    "Form submission: Whitepaper": 0.3,
    "Case study view": 0.5,
    "Webinar attended": 0.6,
    "Pricing page view": 0.9,
    "Form submission: Demo request": 1.4,
    "Note": 0.0,
}


def hubspot(n: int = 600, seed: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A HubSpot contacts export (one row a contact, with its deal's stage, amount and close date) and the
    contacts' activities (one row a touch)."""
    rng = np.random.default_rng(seed)
    people = _people(rng, n)
    created = pd.Timestamp("2024-02-01 09:00") + pd.to_timedelta(np.sort(rng.uniform(0, 480, n)), unit="D")
    created = created.floor("min")
    sources = {"ORGANIC_SEARCH": 0.3, "PAID_SEARCH": 0.0, "EMAIL_MARKETING": 0.2, "REFERRALS": 0.8, "OFFLINE": -0.6}
    source = rng.choice(list(sources), n, p=[0.3, 0.25, 0.2, 0.1, 0.15])
    industry = rng.choice(list(INDUSTRIES), n)
    title = rng.choice(list(TITLES), n)
    employees = np.round(np.exp(rng.normal(4.5, 1.4, n))).astype(int)
    interest = rng.normal(0, 1, n)  # unobserved: drives both engagement and the outcome
    logit = (
        -1.9
        + np.vectorize(sources.get)(source)
        + np.vectorize(INDUSTRIES.get)(industry)
        + np.vectorize(TITLES.get)(title)
        + 1.8 * interest
    )
    won = rng.random(n) < _sigmoid(logit)
    sql = created + pd.to_timedelta(rng.gamma(2.0, 7.0, n), unit="D")
    age_days = (created.max() - created).days.to_numpy()
    reached_sql = rng.random(n) < np.clip(age_days / 30, 0.15, 1.0)
    closed = reached_sql & (rng.random(n) < np.clip(age_days / 75, 0.0, 1.0))
    stage = np.where(
        closed,
        np.where(won, "closedwon", "closedlost"),
        np.where(reached_sql, rng.choice(["appointmentscheduled", "qualifiedtobuy", "presentationscheduled"], n), ""),
    )
    close = sql + pd.to_timedelta(rng.gamma(2.5, 10.0, n), unit="D")
    amount = np.where(stage != "", np.round(rng.lognormal(9.5, 0.6, n), -1), np.nan)
    # A handful of closed deals lost their SQL date in the CRM (a real export has such holes).
    sql_text = np.where(reached_sql, sql.strftime("%Y-%m-%d %H:%M"), "")
    holes = np.flatnonzero(closed)[::40]
    sql_text[holes] = ""
    lifecycle = np.where(
        stage == "closedwon", "customer", np.where(reached_sql, "opportunity", "marketingqualifiedlead")
    )
    contacts = pd.DataFrame(
        {
            "Record ID": 51000 + np.arange(n) * 7,
            "First Name": people["first"],
            "Last Name": people["last"],
            "Email": people["email"],
            "Phone Number": people["phone"],
            "Company Name": people["company"],
            "Job Title": title,
            "Lifecycle Stage": lifecycle,
            "Original Source": source,
            "Industry": industry,
            "Number of Employees": employees,
            "Country/Region": rng.choice(COUNTRIES, n),
            "Create Date": created.strftime("%Y-%m-%d %H:%M"),
            "Became a Sales Qualified Lead Date": sql_text,
            "Deal Stage": stage,
            "Amount": amount,
            "Close Date": np.where(closed, close.strftime("%Y-%m-%d"), ""),
        }
    )
    rows = []
    types = list(HUBSPOT_TYPES)
    weight = np.array([HUBSPOT_TYPES[t] for t in types])
    for i in range(n):
        start = created[i] - pd.Timedelta(days=30)
        end = sql[i] if reached_sql[i] else created[i] + pd.Timedelta(days=40)
        span = max((end - start).total_seconds() / 86400, 1.0)
        k = rng.poisson(4 + 3 * max(interest[i], -1))
        p = np.exp(1.5 * weight * interest[i])
        for t, day in zip(rng.choice(types, k, p=p / p.sum()), rng.uniform(0, span, k), strict=True):
            rows.append((contacts["Record ID"].iat[i], start + pd.Timedelta(days=float(day)), t))
        if reached_sql[i]:  # after the handoff: sales touches (cut off from the features by the SQL date)
            for day in rng.uniform(0, 30, rng.poisson(4 if won[i] else 2)):
                t = rng.choice(["Meeting", "Call", "Sales email"])
                rows.append((contacts["Record ID"].iat[i], sql[i] + pd.Timedelta(days=float(day)), t))
    activities = pd.DataFrame(rows, columns=["Associated Contact ID", "Activity Date", "Activity Type"])
    activities = activities.sort_values(["Activity Date", "Associated Contact ID"], kind="stable")
    activities["Activity Date"] = activities["Activity Date"].dt.strftime("%Y-%m-%d %H:%M")
    activities.insert(0, "Activity ID", np.arange(len(activities)) + 900_000)
    return contacts, activities.reset_index(drop=True)


def _csv_bytes(frame: pd.DataFrame, encoding: str) -> bytes:
    text = io.StringIO()
    frame.to_csv(text, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return text.getvalue().encode(encoding)


def files() -> dict[Path, bytes]:
    """Every example file and its exact content."""
    contacts, activities = hubspot()
    return {
        HERE / "salesforce" / "leads.csv": _csv_bytes(salesforce(), "cp1252"),
        HERE / "hubspot" / "contacts.csv": _csv_bytes(contacts, "utf-8-sig"),
        HERE / "hubspot" / "activities.csv": _csv_bytes(activities, "utf-8-sig"),
    }


def main() -> None:
    for path, content in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        print(f"wrote {path.relative_to(HERE.parent)} ({len(content):,} bytes)")  # noqa: T201 (a script)


if __name__ == "__main__":
    main()
