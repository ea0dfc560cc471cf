"""The request files wrk's Lua scripts read (one request per line, tab
separated), written from the seed's manifest and fresh access tokens, and a
quick check that each kind of request answers as expected before it is timed."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections.abc import Iterable, Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

import httpx

from bench.seed import Manifest, SeedUser


def _interleave(groups: Iterable[list[str]]) -> Iterator[str]:
    """One line of each user in turn, so consecutive requests are different users'."""
    for layer in zip_longest(*groups):
        yield from (line for line in layer if line is not None)


def page_variants(user: SeedUser, today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """(category id, from, to) of the 50-item pages the scenarios read: a date
    range and a parent category (its subcategories and splits count)."""

    def page(category: str, newest: int, oldest: int) -> tuple[str, dt.date, dt.date]:
        return (
            user.categories[category],
            today - dt.timedelta(days=oldest),
            today - dt.timedelta(days=newest),
        )

    return [
        page("Food", 0, 364),
        page("Transport", 0, 729),
        page("Food", 180, 545),
        page("Food", 365, 729),
    ]


def page_paths(user: SeedUser, today: dt.date) -> list[str]:
    return [
        f"/services/transactions?limit=50&from={start.isoformat()}&to={end.isoformat()}"
        f"&category_id={category}"
        for category, start, end in page_variants(user, today)
    ]


# The list's filters, each compared for the user with 1k transactions and the
# one with 100k: a common word (a merchant in ~9% of descriptions), a rare one
# (a note in 0.2%), a tag (~1.7%), an amount range (~17%) and an account.
FILTERS: dict[str, str] = {
    "q common": "q=market",
    "q rare": "q=warranty",
    "tag": "tag=vacation",
    "amount": "min_amount=100&max_amount=200",
    "account": "account_id={account}",
}


def filter_path(user: SeedUser, name: str) -> str:
    account = next(a.id for a in user.accounts if a.name == "Checking")
    return "/services/transactions?limit=50&" + FILTERS[name].format(account=account)


def filter_file(name: str, history: str) -> str:
    """The request file's name of one filter for one history size ("1k", "100k")."""
    return f"filter_{name.replace(' ', '_')}_{history}"


def write_files(
    directory: Path, manifest: Manifest, tokens: dict[str, str], today: dt.date
) -> dict[str, Path]:
    """tokens: email -> access token. Returns scenario -> file."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # bearer tokens and passwords
    users = manifest.by_role("user")
    lines: dict[str, Iterable[str]] = {
        "hello": ["/hello\t-"],
        "twohop": ["/page\t-"],
        "balance": _interleave(
            [f"/services/accounts/{a.id}/balance\t{tokens[u.email]}" for a in u.accounts]
            for u in users
        ),
        "dashboard": [f"/services/dashboard\t{tokens[u.email]}" for u in users],
        "page": _interleave(
            [f"{path}\t{tokens[u.email]}" for path in page_paths(u, today)] for u in users
        ),
        "transfer": _interleave(
            [f"{tokens[u.email]}\t{a}\t{b}" for a, b in u.account_pairs()] for u in users
        ),
        "login": [f"{u.email}\t{u.password}" for u in users],
    }
    for role, name in (("small", "history_1k"), ("big", "history_100k")):
        for user in manifest.by_role(role):
            lines[name] = [f"{path}\t{tokens[user.email]}" for path in page_paths(user, today)]
            for filter_name in FILTERS:
                lines[filter_file(filter_name, name.removeprefix("history_"))] = [
                    f"{filter_path(user, filter_name)}\t{tokens[user.email]}"
                ]
    files: dict[str, Path] = {}
    for name, content in lines.items():
        path = directory / f"{name}.tsv"
        path.touch(mode=0o600)
        path.write_text("".join(line + "\n" for line in content))
        files[name] = path
    return files


def read_rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines() if line]


def check_gets(base_url: str, path: Path, sample: int = 8) -> dict[str, Any]:
    """Send a few of a file's GETs; fail unless each is 200. For transaction
    pages, also count the items (are the pages full?) and their bytes."""
    rows = read_rows(path)
    step = max(1, len(rows) // sample)
    items: list[int] = []
    sizes: list[int] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for target, bearer in rows[::step][:sample]:
            headers = {} if bearer == "-" else {"Authorization": f"Bearer {bearer}"}
            response = client.get(target, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(
                    f"{path.name}: GET {target} answered {response.status_code}: {response.text}"
                )
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("items"), list):
                items.append(len(body["items"]))
                sizes.append(len(response.content))
    return {
        "checked": len(rows[::step][:sample]),
        "items_per_page": items or None,
        "bytes_per_page": round(statistics.median(sizes)) if sizes else None,
    }


def prime_gets(base_url: str, path: Path, concurrency: int = 8) -> int:
    """GET every line of a file once (in parallel), so what is cached on first
    read (balances, dashboards) is cached before the warm-up starts. Returns
    how many were read; fails unless each is 200."""
    rows = read_rows(path)

    async def run() -> None:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def one(target: str, bearer: str) -> None:
                async with limit:
                    response = await client.get(
                        target, headers={"Authorization": f"Bearer {bearer}"}
                    )
                if response.status_code != 200:
                    raise RuntimeError(f"GET {target} answered {response.status_code}")

            await asyncio.gather(*(one(target, bearer) for target, bearer in rows))

    asyncio.run(run())
    return len(rows)


def check_transfer(base_url: str, path: Path, today: dt.date) -> None:
    token, source, target = read_rows(path)[0]
    response = httpx.post(
        f"{base_url}/services/transactions",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-check-{today}"},
        json={
            "type": "transfer",
            "account_id": source,
            "to_account_id": target,
            "amount": "0.01",
            "date": today.isoformat(),
            "description": "bench check",
        },
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"transfer check answered {response.status_code}: {response.text}")


def check_login(auth_url: str, path: Path) -> None:
    email, password = read_rows(path)[0]
    response = httpx.post(
        f"{auth_url}/auth/login", json={"email": email, "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"login check answered {response.status_code}: {response.text}")
