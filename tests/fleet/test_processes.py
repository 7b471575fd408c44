"""Several real worker processes: a stop issued in any of them aborts the watch in the
one that owns the stream (sync ``with`` and ``async with`` watches), and only that one."""

from __future__ import annotations

from collections.abc import Callable

from ._worker import Worker


def test_stops_from_any_process_reach_the_owner_only(make_worker: Callable[..., Worker]) -> None:
    owners = [make_worker() for _ in range(3)]
    stoppers = [make_worker() for _ in range(2)]
    streams = {owner.pid: [f"own-{owner.pid}-{n}" for n in range(12)] for owner in owners}
    for owner in owners:
        owner.watch(streams[owner.pid][:6])
        owner.watch(streams[owner.pid][6:], mode="async")
    # Also watched elsewhere under another name: must stay quiet.
    bystander = make_worker()
    bystander.watch([f"other-{n}" for n in range(6)])
    for index, owner in enumerate(owners):
        for n, stream_id in enumerate(streams[owner.pid][::2]):  # half of each owner's streams
            assert stoppers[(index + n) % 2].stop(stream_id, f"stop {stream_id}") is True
    for owner in owners:
        stopped = streams[owner.pid][::2]
        assert owner.wait_aborted(stopped) == {s: (f"stop {s}", s) for s in stopped}
        assert owner.aborted(streams[owner.pid][1::2]) == {}
    assert bystander.aborted([f"other-{n}" for n in range(6)]) == {}
