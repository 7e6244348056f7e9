"""A 10,000-row trade-show list goes through validation, dedupe and routing in one call (in-memory storage)."""

import time

from leads_webhook.imports import import_rows, results_csv

from tests.unit.leads.leads_fakes import services


def test_ten_thousand_rows_import_in_one_call():
    # Given a list of 10,000 rows: 9,000 people, 1,000 of them twice, and every 1,000th row bad
    lines = ["Email Address,First Name,Company Name,Country,Employees"]
    for i in range(10_000):
        person = i if i < 9_000 else i - 9_000
        email = f"person{person}@example.com" if i % 1000 != 999 else f"broken-{i}"
        lines.append(f"{email},P{person},Co {person % 300},{['US', 'DE', 'FR'][person % 3]},{person % 2000}")
    svc = services()
    # When it is imported
    started = time.perf_counter()
    run = import_rows("\n".join(lines).encode(), key="imports/leads/big.csv", etag="e1", services=svc)
    results, errors = run.results, run.errors
    elapsed = time.perf_counter() - started
    # Then every row has an outcome, and each person is one lead
    assert errors == []
    assert len(results) == 10_000
    outcomes = {o: sum(1 for r in results if r.outcome == o) for o in ("created", "merged", "rejected")}
    assert outcomes == {"created": 9_000 - 9, "merged": 1_000 - 1, "rejected": 10}
    assert len(svc.leads.leads) == 9_000 - 9
    assert results_csv(results, errors).count(b"\n") == 10_001
    assert elapsed < 120, f"{elapsed:.1f} s"
