"""The commit starts from the sums made while staging (``ledger.StagedSums``) and handles one by one only
the lines whose key the ledger or the run already holds. Given a ledger with another file's lines, the
key's previous version and this run's own lines, repeats within the run and slices staged before the
sums were, the plan is exactly what counting each line one by one gives, to the cent."""

from __future__ import annotations

import gzip
import json
import random
from decimal import Decimal

from pos_ingest.ledger import StagedLines, StagedShard, load_shard, plan_commit, shard_body
from pos_ingest.validate import AcceptedBatch, PosLine

from shared.store.pos import LEDGER_SHARDS, InMemoryPosStore, LedgerHead, ledger_shard_of, unmatched_account

US = "\x1f"
THIS, OTHER, PREVIOUS = "t" * 16, "o" * 16, "p" * 16
ACCOUNTS = ["acct-1", "acct-2", unmatched_account("hooli"), unmatched_account("initech")]


def line(row: int, invoice: str, number: str, rng: random.Random) -> PosLine:
    quantity = Decimal(rng.randint(-3, 40))
    amount = (quantity * Decimal(rng.randint(1, 99_999)) / 100).quantize(Decimal("0.01"))
    account = rng.choice(ACCOUNTS)
    return PosLine(row, invoice, number, "2026-10-02", rng.choice(["2026-Q3", "2026-Q4"]),
                   f"PN-{rng.randint(1, 4)}", quantity, None, amount, rng.choice(["USD", "EUR"]),
                   account.removeprefix("unmatched:").title() if "unmatched" in account else "Acme",
                   account, "US", "", "")  # fmt: skip


def entry(token: str, x: PosLine) -> str:
    return US.join([token, str(x.extended_amount), str(x.quantity), x.account, x.period, x.currency,
                    x.part_number, x.end_customer])  # fmt: skip


def counted_one_by_one(
    staged: list[PosLine], ledger: dict[str, str], previous: str
) -> tuple[dict[tuple[str, str, str], Decimal], dict[tuple[str, str], list[Decimal]], list[int]]:
    """The contribution line by line: (account, period, currency) -> amount, (account-period-currency,
    part) -> [amount, quantity], and the rows rejected as repeats."""
    totals: dict[tuple[str, str, str], Decimal] = {}
    parts: dict[tuple[str, str], list[Decimal]] = {}
    repeats, seen = [], set()

    def add(fields: list[str], sign: int) -> None:
        amount, quantity, account, period, currency, part = fields[:6]
        key = (account, "" if "unmatched" in account else period, currency)
        totals[key] = totals.get(key, Decimal(0)) + sign * Decimal(amount)
        if "unmatched" not in account:
            slot = parts.setdefault((US.join(key), part), [Decimal(0), Decimal(0)])
            slot[0] += sign * Decimal(amount)
            slot[1] += sign * Decimal(quantity)

    ledger = dict(ledger)
    for x in staged:
        key = x.invoice_number + US + x.line
        if key in seen:
            repeats.append(x.row)
            continue
        seen.add(key)
        before = ledger.get(key)
        if before is not None and before.startswith(THIS):
            continue
        if before is not None:
            add(before.split(US)[1:], -1)
        add(entry(THIS, x).split(US)[1:], 1)
        ledger[key] = entry(THIS, x)
    for key, value in ledger.items():
        if value.startswith(PREVIOUS) and key not in seen:
            add(value.split(US)[1:], -1)
    return totals, parts, repeats


def test_the_commit_from_sums_is_the_commit_line_by_line_to_the_cent() -> None:
    # Given a ledger holding another file's lines, the previous version's and some of this run's
    rng = random.Random(13)
    old = [line(n, f"INV{n // 3:04d}", str(n % 3 + 1), rng) for n in range(600)]
    owners = [OTHER, PREVIOUS, THIS]
    ledger = {x.invoice_number + US + x.line: entry(owners[n % 3], x) for n, x in enumerate(old)}
    # and a run that restates half of them, adds new lines and repeats some of its own, in two slices,
    # the first staged one record per line (before the sums were)
    staged = [line(n, f"INV{n // 3:04d}", str(n % 3 + 1), rng) for n in range(300, 1200)]
    staged += [line(2000 + n, staged[n * 7].invoice_number, staged[n * 7].line, rng) for n in range(40)]
    first, second = staged[:450], staged[450:]
    old_slice = {
        shard: "\x1e".join(
            US.join([x.invoice_number, x.line, str(x.row), *entry("", x).split(US)[1:]])
            for x in first if ledger_shard_of(x.invoice_number) == shard
        )
        for shard in range(LEDGER_SHARDS)
    }  # fmt: skip
    current = StagedLines()
    current.add(AcceptedBatch.from_lines(second))
    objects = {f"ledger/{shard}": shard_body({k: v for k, v in ledger.items()
                                             if ledger_shard_of(k.split(US)[0]) == shard})
               for shard in range(LEDGER_SHARDS)}  # fmt: skip
    # a shard the previous code wrote: JSON lists
    objects["ledger/0"] = gzip.compress(
        json.dumps({k: v.split(US) for k, v in load_shard(objects["ledger/0"]).items()}).encode()
    )
    head = LedgerHead("d", {shard: f"ledger/{shard}" for shard in range(LEDGER_SHARDS)}, 3, "run")

    # When the commit is computed
    work = plan_commit(
        distributor="d", run_id="run", token=THIS, head=head,
        staged=lambda shard: [StagedShard.from_text(old_slice[shard], summed=False), current.shard(shard)],
        staged_shards=set(range(LEDGER_SHARDS)), sums=[current.sums()], previous=(PREVIOUS, list(range(16))),
        read_object=objects.get, store=InMemoryPosStore(),
    )  # fmt: skip

    # Then it is what counting each line gives
    totals, parts, repeats = counted_one_by_one(staged, ledger, PREVIOUS)
    expected_totals = {k: v for k, v in totals.items() if v and "unmatched" not in k[0]}
    assert {(t.account_id, f"{t.year}-Q{t.quarter}", t.currency): t.amount for t in work.plan.totals
            if t.amount} == expected_totals  # fmt: skip
    got_parts = {(US.join((c.account_id, f"{c.year}-Q{c.quarter}", c.currency)), part): list(value)
                 for c in work.plan.cells for part, value in c.parts.items()}  # fmt: skip
    assert {k: v for k, v in got_parts.items() if any(v)} == {k: v for k, v in parts.items() if any(v)}
    assert {(unmatched_account(u.normalised_name), "", u.currency): u.amount for u in work.plan.unmatched
            if u.amount} == {k: v for k, v in totals.items() if v and "unmatched" in k[0]}  # fmt: skip
    assert sorted(r.row for r in work.repeats) == sorted(repeats) and len(repeats) == 40
    # and the new line sets hold each key once, with the run that counts it
    after = {k: v for body in work.shard_bodies.values() for k, v in load_shard(body).items()}
    assert not any(v.startswith(PREVIOUS) for v in after.values())
    ours = {x.invoice_number + US + x.line for x in staged} | {
        k for k, v in ledger.items() if v.startswith(THIS)
    }
    assert {k for k, v in after.items() if v.startswith(THIS)} == ours
