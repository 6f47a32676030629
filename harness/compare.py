"""Regression comparison of perf results files: which cases got slower or bigger beyond a threshold.

Cases match by id, which names the perf mode (``harness.perf_modes``: 1 thread, default threads, busy cores), so a
case is only ever judged against the same case in the same mode. Noise-aware in the ways a two-file comparison can
be: it compares medians (not means, which one outlier moves), shows the worst rounds' ratio beside them (the tail
under contention; never judged) and calls a case slower only when its fastest round is slower too (noise only adds
time: stalled rounds, in either run or in a yardstick, move a median and leave the fastest round where it was, while
a slowdown in the code moves both); it reports how many rounds each median rests on, flags a case whose baseline has
fewer than ``MIN_ROUNDS`` rounds as weak evidence, lets peak memory move within ``MEMORY_NOISE`` before calling it a
regression, and warns (``harness.comparability``) when the two runs come from different CPUs or torch builds or from
a busy machine, where a ratio measures the machines rather than the code.

On a shared machine the whole run drifts: two runs of the same code, hours apart, can differ well
beyond any useful threshold, every backend alike. ``relative_to`` (``--relative-to=torch``) judges each
case by its time over the same case of that backend *in the same run* (backends are interleaved case
by case, so drift cancels), the way the published tables state results; the yardstick's own cases and
the bandwidth floors (the same plain pass in every column) are then not judged, and a case the
yardstick lacks in either run is compared on its absolute time, said so.

The bandwidth floors (``harness.floors``: one read, one multiply of the same weight, timed in every
column) measure the machine, not a backend: a floor slower beyond the threshold is reported as the machine
being slower, never as a regression. In an absolute comparison a case measured against a floor (a step
against the read, ``squash_mask`` against the multiply, same column, size, dtype and mode) that slowed as
much as its floor, within the threshold, is not a regression either; slower than that over its floor, in
median and fastest round alike, it still is (a slowdown in the code shows over the floor too).

One run cannot tell a regression from a stall: a shared machine can hold one case at 20x for all its
rounds. Given several new runs of the same code (reruns), a case counts as regressed only when it
regressed in each run that measured it; the cases slower in some runs only are listed as not
reproduced. A slowdown in the code shows in every run, so it is still caught.

And some comparisons cannot be judged at all. When either run was measured on a busy machine (its
recorded load, ``harness.environment``), or a case's own rounds spread wider than the threshold (its
interquartile range over its median, in either run), a case that got slower beyond the threshold is
*inconclusive*, not regressed: such timings measure the machine. ``prunebench compare`` then exits with
its own status (``INCONCLUSIVE_EXIT``), lists those cases and says how to get an answer. A wide spread
does not stand in the way when the two runs' rounds are apart by more than the threshold (the new run's
fastest round slower than the base run's slowest by more than it): no spread of the base explains that,
as noise adds time to the new run's rounds and takes none from the base's. Peak memory does not depend
on the load: a memory regression stays one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tabulate import tabulate

from .comparability import HARDWARE_KEYS, RUN_KEYS, SOFTWARE_KEYS, busy_warnings, differences
from .errors import UsageError
from .floors import FLOOR_OPERATION, floor_cases, floor_of
from .results import Case, Results, ResultsError

MIN_ROUNDS = 3
MIB = 2**20
HOW_TO_CONCLUDE = (
    "for a conclusive answer, measure both runs on an idle machine (each run records its load: a load average "
    "under 0.5 per core at the start, other processes under 25% of the CPU time); on such a machine "
    "--relative-to=BACKEND cancels drift that hits every backend and reruns (compare BASE NEW NEW2) single stalls; "
    "noisy cases also want more rounds (--perf-min-time, --perf-rounds)"
)


@dataclass(frozen=True)
class NoiseBand:
    """How far a number may move between identical runs: the larger of a fraction of it and a fixed amount."""

    fraction: float
    floor: int

    def allows(self, base: int, new: int) -> bool:
        return new - base <= max(self.fraction * base, self.floor)

    def describe(self) -> str:
        return f"max({self.fraction:.0%}, {self.floor / MIB:g} MiB)"


MEMORY_NOISE = NoiseBand(fraction=0.10, floor=1 * MIB)
"""Peak-memory growth within this band is never a regression, whatever the threshold (README, "compare")."""


def parse_threshold(text: str) -> float:
    """``"10%"`` or ``"10"`` -> 0.1: the threshold is always in percent; it must be a finite number > 0."""
    raw = text.strip().removesuffix("%").strip()
    try:
        percent = float(raw)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected a percentage such as 10% (or 10, also percent)") from None
    if not math.isfinite(percent) or percent <= 0:
        raise UsageError(f"--threshold {text!r}: expected a percentage > 0 such as 10%")
    return percent / 100


def percent(fraction: float) -> str:
    """0.1 -> ``10%``; 0.005 -> ``0.5%``."""
    return f"{fraction * 100:g}%"


@dataclass(frozen=True)
class Change:
    """One case measured in both runs."""

    key: tuple[str, str, str]
    base: Case
    new: Case
    base_yardstick: Case | None = None  # the same case of the ``relative_to`` backend, in each run
    new_yardstick: Case | None = None
    base_floor: Case | None = None  # absolute comparisons: the case's bandwidth floor (``harness.floors``), each run
    new_floor: Case | None = None

    @property
    def is_floor(self) -> bool:
        """A bandwidth-floor case: the same plain pass in every column, the machine's speed rather than a backend's."""
        return self.base.operation == FLOOR_OPERATION

    @property
    def floor_ratio(self) -> float | None:
        """How much slower the machine got for this case: its floor's median ratio (its own, for a floor case)."""
        return self.time_ratio if self.is_floor else self._floor_ratio("median")

    def _floor_ratio(self, statistic: str) -> float | None:
        """The case's floor's new over base ``statistic``; None when a run lacks the floor."""
        if self.base_floor is None or self.new_floor is None:
            return None
        return _plain_ratio(self.new_floor, self.base_floor, statistic)

    @property
    def relative(self) -> bool:
        return self.base_yardstick is not None and self.new_yardstick is not None

    @property
    def time_ratio(self) -> float:
        """New median over base median; relative: (new / its yardstick) over (base / its yardstick)."""
        return self._ratio("median")

    @property
    def fastest_ratio(self) -> float:
        """The same ratio of the fastest rounds (``stats["min"]``): what the code costs without stalls."""
        return self._ratio("min")

    def _ratio(self, statistic: str) -> float:
        new, base = float(self.new.stats[statistic]), float(self.base.stats[statistic])
        if self.relative:
            assert self.base_yardstick is not None and self.new_yardstick is not None  # for type checkers
            new_yardstick = float(self.new_yardstick.stats[statistic])
            base_yardstick = float(self.base_yardstick.stats[statistic])
            if new_yardstick <= 0 or base_yardstick <= 0:
                return float("inf")
            new, base = new / new_yardstick, base / base_yardstick
        return new / base if base > 0 else float("inf")

    @property
    def worst_ratio(self) -> float | None:
        """The same ratio of the worst rounds (``stats["max"]``), shown, never judged: the tail a busy machine
        stretches; None when a run did not record it."""
        cases = [self.new, self.base, *([self.new_yardstick, self.base_yardstick] if self.relative else [])]
        return self._ratio("max") if all(case is not None and case.worst is not None for case in cases) else None

    @property
    def memory_ratio(self) -> float | None:
        base, new = self.base.peak_memory_bytes, self.new.peak_memory_bytes
        if base is None or new is None:
            return None
        return new / base if base > 0 else (1.0 if new == 0 else float("inf"))

    def spread(self) -> float:
        """The wider of the two runs' own spread: interquartile range over median (rounds that disagree)."""
        return max(_spread(self.base), _spread(self.new))

    @property
    def apart_ratio(self) -> float | None:
        """The new run's fastest round over the base run's slowest (relative: each over its yardstick's round
        that makes the ratio smallest); None when a run did not record its slowest round.

        Beyond the threshold, the rounds of the two runs do not overlap even with that margin: a spread in
        either run cannot account for the slowdown, so a wide spread no longer makes it inconclusive.
        """
        slowest_read = [self.base, *([self.new_yardstick] if self.relative else [])]  # the cases whose "max" it reads
        if any(case is None or case.worst is None for case in slowest_read):
            return None
        new, base = float(self.new.stats["min"]), float(self.base.stats["max"])
        if self.relative:
            assert self.base_yardstick is not None and self.new_yardstick is not None  # for type checkers
            new_yardstick = float(self.new_yardstick.stats["max"])
            base_yardstick = float(self.base_yardstick.stats["min"])
            if new_yardstick <= 0 or base_yardstick <= 0:
                return None
            new, base = new / new_yardstick, base / base_yardstick
        return new / base if base > 0 else None

    def noisy(self, threshold: float) -> bool:
        """Its rounds spread wider than ``threshold`` in either run and the two runs' rounds are not apart by more
        than it: a ratio beyond the threshold then says nothing about the code."""
        apart = self.apart_ratio
        return self.spread() > threshold and (apart is None or apart <= 1 + threshold)

    def _slower(self, threshold: float) -> bool:
        return self.time_ratio > 1 + threshold and self.fastest_ratio > 1 + threshold

    def with_the_machine(self, threshold: float) -> bool:
        """Slower beyond ``threshold``, but as the machine was: a floor case (the machine's own speed), or a case
        whose floor slowed too and which, over its floor, is not slower beyond ``threshold`` (median and fastest
        round alike). Never a regression: the same plain pass slowed as much in the same run."""
        if not self._slower(threshold):
            return False
        if self.is_floor:
            return True
        floor = {statistic: self._floor_ratio(statistic) for statistic in ("median", "min")}
        if None in floor.values():
            return False
        floor_slower = all(ratio > 1 + threshold for ratio in floor.values())
        beyond_floor = all(self._ratio(statistic) / ratio > 1 + threshold for statistic, ratio in floor.items())
        return floor_slower and not beyond_floor

    def regressed(self, threshold: float, memory_noise: NoiseBand = MEMORY_NOISE) -> list[str]:
        """What got worse beyond ``threshold``: time (the median and the fastest round both, unless the machine
        slowed as much: ``with_the_machine``), and memory beyond both the threshold and the noise band."""
        what = []
        if self._slower(threshold) and not self.with_the_machine(threshold):
            what.append("time")
        base, new = self.base.peak_memory_bytes, self.new.peak_memory_bytes
        if base is not None and new is not None and new > base * (1 + threshold) and not memory_noise.allows(base, new):
            what.append("memory")
        return what


def _plain_ratio(new: Case, base: Case, statistic: str) -> float:
    base_value = float(base.stats[statistic])
    return float(new.stats[statistic]) / base_value if base_value > 0 else float("inf")


def _spread(case: Case) -> float:
    median = float(case.stats["median"])
    return float(case.stats.get("iqr", 0.0)) / median if median > 0 else 0.0


@dataclass(frozen=True)
class CaseComparison:
    """One case judged over every new run that measured it: a regression is one that reproduces.

    With one new run this is that run's ``Change``. With reruns of the same code, what got worse must
    have got worse in each of them: a real slowdown is in the code and shows every time, a stall of a
    shared machine rarely hits the same case twice (README, "compare").
    """

    key: tuple[str, str, str]
    changes: tuple[Change, ...]  # one per new run that measured the case, in the order the runs were given

    @property
    def relative(self) -> bool:
        return all(change.relative for change in self.changes)

    @property
    def time_ratio(self) -> float:
        """The smallest of the runs' ratios: the one a time verdict rests on."""
        return min(change.time_ratio for change in self.changes)

    def regressed(self, threshold: float, memory_noise: NoiseBand = MEMORY_NOISE) -> list[str]:
        """What got worse beyond ``threshold`` in every run."""
        verdicts = [change.regressed(threshold, memory_noise) for change in self.changes]
        return [what for what in verdicts[0] if all(what in verdict for verdict in verdicts[1:])]

    def noisy(self, threshold: float) -> bool:
        """Its rounds spread wider than ``threshold`` in some run, overlapping the base's: a ratio beyond it says
        nothing."""
        return any(change.noisy(threshold) for change in self.changes)

    def with_the_machine(self, threshold: float) -> bool:
        """Slower beyond ``threshold`` in every run, each time as much as the machine (``Change.with_the_machine``)."""
        return all(change.with_the_machine(threshold) for change in self.changes)

    @property
    def is_floor(self) -> bool:
        return self.changes[0].is_floor

    def regressed_somewhere(self, threshold: float, memory_noise: NoiseBand = MEMORY_NOISE) -> list[str]:
        """What got worse beyond ``threshold`` in at least one run."""
        found = [what for change in self.changes for what in change.regressed(threshold, memory_noise)]
        return sorted(set(found), key=found.index)


@dataclass
class Comparison:
    changes: list[CaseComparison]
    missing: list[tuple[str, str, str]]
    added: list[tuple[str, str, str]]
    threshold: float
    warnings: list[str]
    memory_noise: NoiseBand = MEMORY_NOISE
    relative_to: str | None = None
    runs: int = 1
    busy: list[str] = field(default_factory=list)
    """Why the machine was busy in some run (``comparability.busy_warnings``): no time verdict then."""

    def _conclusive(self, case: CaseComparison) -> list[str]:
        """What a case regressed in that can be judged: memory always, time on a quiet machine and steady rounds."""
        found = case.regressed(self.threshold, self.memory_noise)
        judged = not self.busy and not case.noisy(self.threshold)
        return [what for what in found if what == "memory" or judged]

    @property
    def regressions(self) -> list[CaseComparison]:
        return [change for change in self.changes if self._conclusive(change)]

    @property
    def inconclusive(self) -> list[CaseComparison]:
        """Cases slower beyond the threshold in every run, where the load or their own noise forbids a verdict."""
        return [
            change
            for change in self.changes
            if change.regressed(self.threshold, self.memory_noise) and not self._conclusive(change)
        ]

    def _why_inconclusive(self, case: CaseComparison) -> str:
        if self.busy:
            return "busy machine"
        return f"its rounds spread {max(c.spread() for c in case.changes if c.noisy(self.threshold)):.0%}"

    @property
    def not_reproduced(self) -> list[CaseComparison]:
        """Cases that got worse in some new runs but not in all: reported, not counted."""
        return [
            change
            for change in self.changes
            if change.regressed_somewhere(self.threshold, self.memory_noise)
            and not change.regressed(self.threshold, self.memory_noise)
        ]

    @property
    def machine_slower(self) -> list[CaseComparison]:
        """Bandwidth floors slower beyond the threshold in every run: the machine got slower, not a backend."""
        return [change for change in self.changes if change.is_floor and change.with_the_machine(self.threshold)]

    def _verdict(self, case: CaseComparison) -> str:
        confirmed = self._conclusive(case)
        if confirmed:
            return ", ".join(confirmed)
        if case.regressed(self.threshold, self.memory_noise):
            return f"inconclusive: time ({self._why_inconclusive(case)})"
        if case.with_the_machine(self.threshold):
            floors = " / ".join(_times(change.floor_ratio) for change in case.changes)
            if case.is_floor:
                return f"ok (a floor, not judged: the machine was {floors} slower)"
            return f"ok (slower with the machine: its floor {floors})"
        somewhere = case.regressed_somewhere(self.threshold, self.memory_noise)
        if somewhere:
            slowed = sum(bool(change.regressed(self.threshold, self.memory_noise)) for change in case.changes)
            return f"ok ({', '.join(somewhere)} in {slowed} of {len(case.changes)} runs: not reproduced)"
        return "ok"

    def _rows(self) -> list[list[str]]:
        rows = []
        for case in sorted(self.changes, key=lambda c: -c.time_ratio):
            times = " / ".join(f"{change.time_ratio:.3g}x" for change in case.changes)
            fastest = " / ".join(f"{change.fastest_ratio:.3g}x" for change in case.changes)
            worst = " / ".join(_times(change.worst_ratio) for change in case.changes)
            memories = [change.memory_ratio for change in case.changes]
            memory = " / ".join(f"{ratio:.3g}x" if ratio is not None else "-" for ratio in memories)
            base_rounds = case.changes[0].base.stats["rounds"]
            rounds = f"{base_rounds}/" + ",".join(str(change.new.stats["rounds"]) for change in case.changes)
            weak = " (few rounds)" if base_rounds < MIN_ROUNDS else ""
            line = [*(_flat(part) for part in case.key), times, fastest, worst, memory, rounds + weak]
            line.append(self._verdict(case))
            if self.relative_to is not None:
                measured = [
                    f"vs {_flat(self.relative_to)}" if change.relative else "absolute" for change in case.changes
                ]
                line.insert(3, " / ".join(dict.fromkeys(measured)))
            rows.append(line)
        return rows

    def render(self) -> str:
        each = " (each new run's, in order)" if self.runs > 1 else ""
        headers = [
            "case",
            "backend",
            "device",
            f"median time new/base{each}",
            "fastest round new/base",
            "worst round new/base",
            "peak mem new/base",
            "rounds base/new",
            "verdict",
        ]
        if self.relative_to is not None:
            headers.insert(3, "time measured")
        lines = [f"warning: {warning}" for warning in self.warnings]
        lines.append(tabulate(self._rows(), headers=headers, tablefmt="simple"))
        lines += [f"missing from new: {' '.join(map(_flat, key))}" for key in self.missing]
        lines += [f"new case: {' '.join(map(_flat, key))}" for key in self.added]
        count, limit = len(self.regressions), percent(self.threshold)
        band = f"peak memory within {self.memory_noise.describe()} of base is noise"
        where = f"in each of {self.runs} new runs " if self.runs > 1 else ""
        if self.not_reproduced:
            lines.append(
                f"{len(self.not_reproduced)} case(s) beyond {limit} in some new runs but not all: not reproduced, "
                "not counted"
            )
        if self.machine_slower:
            listed = ", ".join(" ".join(map(_flat, case.key)) for case in self.machine_slower)
            lines.append(
                f"the machine: {len(self.machine_slower)} bandwidth floor(s) slower beyond {limit} {where}(the same "
                f"plain pass in every column, so not judged): {listed}; a case measured against a slower floor is "
                "judged by its time over that floor"
            )
        if self.inconclusive:
            lines += self._inconclusive_lines(limit, where)
        lines.append(
            f"{count} regression(s) beyond {limit} {where}in {len(self.changes)} compared case(s) ({band})"
            if count
            else f"no regression beyond {limit} {where}in {len(self.changes)} compared case(s) ({band})"
        )
        return "\n".join(lines)

    def _inconclusive_lines(self, limit: str, where: str) -> list[str]:
        cases = self.inconclusive
        why = (
            f"the machine was busy ({'; '.join(self.busy)})"
            if self.busy
            else f"their own rounds spread more than {limit} and overlap the base run's within it"
        )
        listed = ", ".join(" ".join(map(_flat, case.key)) for case in cases)
        return [
            f"INCONCLUSIVE: {len(cases)} case(s) slower beyond {limit} {where}cannot be judged, as {why}: {listed}",
            HOW_TO_CONCLUDE,
        ]


def _times(ratio: float | None) -> str:
    return f"{ratio:.3g}x" if ratio is not None else "-"


def _flat(text: str) -> str:
    """A backend's name or a case id on one line of terminal output: no newline can forge a verdict line."""
    return " ".join(text.split())


def comparability_warnings(base: Results, news: Sequence[Results]) -> list[str]:
    """Why the runs' ratios may measure the machines rather than the code, or reruns not the same code."""
    named = _named_runs(base, news)
    lines = differences(named, HARDWARE_KEYS + SOFTWARE_KEYS + RUN_KEYS)
    if len(news) > 1:
        lines += [
            f"{line} (the new runs are judged as reruns of one code: a regression must show in each)"
            for line in differences(named[1:], ("git_revision",))
        ]
    return lines + busy_warnings([base, *news])


def _refuse_repeated_runs(news: Sequence[Results]) -> None:
    """One run given twice as reruns would confirm its own stalls: each new run must be measured apart."""
    seen: dict[str, str] = {}
    for index, run in enumerate(news):
        name = run.source or _run_name(index, len(news))
        document = run.to_json()
        if document in seen:
            raise UsageError(
                f"{name}: the same run as {seen[document]} (created {run.created}); expected separate runs of "
                "the same code, each measured on its own (a run given twice would confirm its own stalls)"
            )
        seen[document] = name


def _run_name(index: int, count: int) -> str:
    return "new" if count == 1 else f"new {index + 1}"


def _named_runs(base: Results, news: Sequence[Results]) -> list[tuple[str, Results]]:
    """``("base", base)``, then each new run under the name messages give it (``new``, or ``new 1``, ...)."""
    return [("base", base)] + [(_run_name(index, len(news)), new) for index, new in enumerate(news)]


def _changes(base: Results, new: Results, relative_to: str | None) -> dict[tuple[str, str, str], Change]:
    """Each case ``new`` shares with ``base`` that is judged, with its yardsticks when ``relative_to``."""
    base_cases = {case.key(): case for case in base.cases}
    new_cases = {case.key(): case for case in new.cases}
    base_floors, new_floors = floor_cases(base.cases), floor_cases(new.cases)
    changes = {}
    for key in sorted(base_cases.keys() & new_cases.keys()):
        if relative_to is None:
            base_case, new_case = base_cases[key], new_cases[key]
            floors = (floor_of(base_case, base_floors), floor_of(new_case, new_floors))
            changes[key] = Change(key, base_case, new_case, base_floor=floors[0], new_floor=floors[1])
        elif key[1] != relative_to and base_cases[key].operation != FLOOR_OPERATION:
            # the yardstick's own cases are what the others are measured by; a floor case times the same
            # plain pass in every column (the machine, not a backend), so relative to another it is noise
            yardstick = (key[0], relative_to, key[2])
            changes[key] = Change(
                key, base_cases[key], new_cases[key], base_cases.get(yardstick), new_cases.get(yardstick)
            )
    return changes


def compare_results(
    base: Results, new: Results | Sequence[Results], threshold: float, relative_to: str | None = None
) -> Comparison:
    """Match cases by (id, backend, device); a comparison of nothing is an error, not a pass.

    ``new`` is one run or several runs of the same code (reruns): a case regressed when it regressed in
    every one of them that measured it. ``relative_to`` names a backend present in every run: see the
    module docstring.
    """
    news = [new] if isinstance(new, Results) else list(new)
    if not news:
        raise UsageError("compare: expected at least one new results file")
    _refuse_repeated_runs(news)
    if relative_to is not None:
        for name, run in _named_runs(base, news):
            backends = sorted({case.backend for case in run.cases})
            if relative_to not in backends:
                raise UsageError(
                    f"--relative-to {relative_to!r}: the {name} run ({run.source or name}) has no case of that "
                    f"backend; its backends are {backends}"
                )
    base_keys = {case.key() for case in base.cases}
    new_keys = {case.key() for run in news for case in run.cases}
    if not base_keys & new_keys:
        sources = ", ".join(run.source or "new" for run in news)
        raise ResultsError(
            f"{sources}: no case (id, backend, device) in common with {base.source or 'base'} "
            f"(base has {len(base_keys)} cases, new {len(new_keys)}): nothing to compare"
        )
    per_run = [_changes(base, run, relative_to) for run in news]
    keys = sorted(set().union(*per_run))
    changes = [CaseComparison(key, tuple(run[key] for run in per_run if key in run)) for key in keys]
    if not changes:  # every common case was the yardstick's or a floor: nothing was judged
        raise ResultsError(
            f"{news[0].source or 'new'}: no case other than {relative_to!r}'s own and the bandwidth floors in "
            f"common with {base.source or 'base'}: nothing to compare relative to {relative_to!r}"
        )
    return Comparison(
        changes=changes,
        missing=sorted(base_keys - new_keys),
        added=sorted(new_keys - base_keys),
        threshold=threshold,
        warnings=comparability_warnings(base, news),
        relative_to=relative_to,
        runs=len(news),
        busy=busy_warnings([base, *news]),
    )
