"""The watermark an event trigger keeps in a Variable: what it counts as announced, and what it forgets."""

from __future__ import annotations

import datetime

import pytest

from airflow_entityresolution.watermark import HORIZON, Watermark, end_moment

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def at(**delta: float) -> str:
    return (NOW + datetime.timedelta(**delta)).isoformat()


def test_a_baseline_without_look_back_counts_every_ended_job_as_seen() -> None:
    watermark = Watermark.baseline("key", {"old": at(days=-3), "recent": at(minutes=-1)}, 0, NOW)
    assert watermark.floor is None
    assert not watermark.is_new("old", at(days=-3)) and not watermark.is_new("recent", at(minutes=-1))
    assert watermark.is_new("next", at(minutes=1))


def test_a_baseline_with_look_back_announces_what_ended_inside_it_only() -> None:
    watermark = Watermark.baseline("key", {"inside": at(hours=-1), "outside": at(hours=-3)}, 7200, NOW)
    assert watermark.is_new("inside", at(hours=-1))
    assert not watermark.is_new("outside", at(hours=-3))


def test_an_announced_job_is_new_no_more_and_known_once_committed() -> None:
    watermark = Watermark.baseline("key", {}, 0, NOW)
    watermark.announce("job", at(minutes=1))
    assert not watermark.is_new("job", at(minutes=1))
    assert watermark.to_json()["known"] == {}, "pending jobs stay out of the Variable until persisted"
    assert watermark.commit(["job", "never-announced"])
    assert watermark.to_json()["known"] == {"job": at(minutes=1)}
    assert not watermark.commit(["job"]), "nothing moves twice"


def test_a_baseline_keeps_no_more_than_the_horizon_of_past_jobs() -> None:
    watermark = Watermark.baseline("key", {"old": at(days=-30), "recent": at(minutes=-1)}, 0, NOW)
    assert set(watermark.to_json()["known"]) == {"recent"}
    assert not watermark.is_new("old", at(days=-30)), "below the floor"


def test_jobs_older_than_the_horizon_are_forgotten_below_a_floor() -> None:
    watermark = Watermark.baseline("key", {"old": at(days=-8), "kept": at(days=-6)}, 0, NOW)
    watermark.announce("new", at())
    watermark.commit(["new"])
    assert set(watermark.known) == {"kept", "new"}
    assert watermark.floor == (NOW - HORIZON).isoformat()
    # Forgotten, yet never announced again: it ended below the floor.
    assert not watermark.is_new("old", at(days=-8))


def test_a_variable_of_another_format_is_refused_not_taken_for_empty() -> None:
    document = Watermark("key", None, {"job": at()}).to_json()
    assert Watermark.from_json("key", document).known == {"job": at()}
    with pytest.raises(ValueError, match="holds no watermark of version 1"):
        Watermark.from_json("key", {**document, "v": 2})


def test_end_times_compare_as_moments_whatever_their_offsets() -> None:
    earlier_in_paris = "2026-12-01T12:30:00+02:00"  # 10:30 UTC
    later_in_utc = "2026-12-01T11:00:00+00:00"
    assert earlier_in_paris > later_in_utc, "as strings they misorder"
    assert end_moment(earlier_in_paris) < end_moment(later_in_utc)
