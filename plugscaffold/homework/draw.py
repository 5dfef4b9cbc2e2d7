"""The draw: one choice per pooled slot for every student, reproducibly from the seed."""

from __future__ import annotations

import itertools
import math
import random

from ..errors import SpecError
from .spec import HomeworkSpec

MAX_COMBINATIONS = 100_000


def draw(spec: HomeworkSpec) -> list[dict[str, str]]:
    """One choice per pooled slot for every student, in the order of ``spec.students``.

    All combinations are shuffled by the seed. Students with choices pinned in ``assign``
    take theirs first. Then each other student, in the order of the spec, takes the next
    unused combination whose set of modules to implement has been given out least so far,
    then whose modules to implement one by one have, then whose other choices have. So
    students in one class implement different modules while the pool has enough, the
    modules are spread as evenly as it allows, and adding students at the end of the list
    keeps the draws of those before them.
    """
    slots = sorted(spec.pool)
    sizes = [len(spec.pool[s]) for s in slots]
    if math.prod(sizes) > MAX_COMBINATIONS:
        raise SpecError(
            f"the pool has {math.prod(sizes):,} combinations, more than {MAX_COMBINATIONS:,}; "
            "use fewer choices"
        )
    combos = [dict(zip(slots, c)) for c in itertools.product(*(spec.pool[s] for s in slots))]
    rng = random.Random(spec.seed)
    rng.shuffle(combos)
    implemented = [s for s in slots if s in spec.implement]
    uses: dict[tuple[str, ...], int] = {}
    given: dict[tuple[str, str], int] = {}
    unused = list(combos)
    picked: dict[str, dict[str, str]] = {}

    def take(sid: str, pins: dict[str, str]) -> None:
        nonlocal unused
        fits = [c for c in unused if all(c[k] == v for k, v in pins.items())]
        if not fits:  # every combination with these choices is taken: reuse one
            fits = [c for c in combos if all(c[k] == v for k, v in pins.items())]
        ranks = [
            (
                uses.get(tuple(c[s] for s in implemented), 0),
                sum(given.get((s, c[s]), 0) for s in implemented),
                sum(given.get((s, c[s]), 0) for s in slots if s not in implemented),
            )
            for c in fits
        ]
        combo = fits[ranks.index(min(ranks))]
        if combo in unused:
            unused.remove(combo)
        if not unused:
            unused = list(combos)
            rng.shuffle(unused)
        task = tuple(combo[s] for s in implemented)
        uses[task] = uses.get(task, 0) + 1
        for s in slots:
            given[(s, combo[s])] = given.get((s, combo[s]), 0) + 1
        picked[sid] = combo

    for student in spec.students:
        if student.id in spec.assign:
            take(student.id, dict(spec.assign[student.id]))
    for student in spec.students:
        if student.id not in spec.assign:
            take(student.id, {})
    return [picked[s.id] for s in spec.students]
