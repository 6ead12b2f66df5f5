"""Which dated backups `mallcast db backup DIR --keep-days N` removes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime.backup import expired

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_only_dated_backups_older_than_kept_are_removed() -> None:
    names = [
        "mallcast-20261204T020000Z.dump",  # yesterday's
        "mallcast-20261105T030000Z.dump",  # exactly 30 days: kept
        "mallcast-20261105T025959Z.dump",  # a second more
        "mallcast-20250101T000000Z.dump",
        "mallcast-20250101T000000Z.dump.gpg",  # someone else's copy
        "mallcast-before-upgrade.dump",  # named by hand
        "notes.txt",
    ]
    assert expired(names, NOW, timedelta(days=30)) == [
        "mallcast-20250101T000000Z.dump", "mallcast-20261105T025959Z.dump"]  # fmt: skip
    assert expired(names, NOW, timedelta(days=1000)) == []
