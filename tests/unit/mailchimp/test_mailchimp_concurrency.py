"""The cap on simultaneous connections, seen from the server's side."""

from __future__ import annotations

import threading

import requests
from mailchimp_sync.sync import sync_contacts


def test_peak_concurrency_never_exceeds_the_cap(fake, make_gateway, make_contact):
    # Given a slow MailChimp and a cap of 4
    fake.latency = 0.05
    gateway = make_gateway(max_concurrency=4)
    contacts = [make_contact(f"person{i}@example.com") for i in range(40)]
    # When 40 contacts are synced on 12 threads
    results = sync_contacts(contacts, gateway, workers=12)
    # Then all went through and the server never saw more than 4 at once
    assert all(r.state == "synced" for r in results)
    assert fake.peak_concurrency <= 4
    assert fake.peak_concurrency >= 2  # the threads did overlap
    assert fake.stats()["rejected_429"] == 0


def test_the_cap_is_configurable(fake, make_gateway, make_contact):
    fake.latency = 0.03
    gateway = make_gateway(max_concurrency=1)
    results = sync_contacts([make_contact(f"p{i}@example.com") for i in range(10)], gateway, workers=8)
    assert all(r.state == "synced" for r in results)
    assert fake.peak_concurrency == 1


def test_the_fake_answers_429_past_ten_simultaneous_connections(fake):
    # Given 16 raw connections at once against a slow fake
    fake.latency = 0.3
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def ping() -> None:
        barrier.wait()
        statuses.append(requests.get(f"{fake.url}/ping", auth=("u", "k"), timeout=5).status_code)

    threads = [threading.Thread(target=ping) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the ones past ten are refused as MailChimp does
    assert statuses.count(429) >= 1
    assert statuses.count(200) <= 10
    assert fake.peak_concurrency > 10
