"""Who answered a call: `AnswerSource` (built-in, deny, user, rule) and `AnsweredBy`, which
adds the rule's number and whether a replayed script gave the answer.

Each source has two spellings: the session's (`handle`, `deny`, `reply`, `rule N`, shown in
trace lines and `calls`, and the `calls` filter words) and a call script's `by` (`built-in`,
`deny`, `user`, `rule N`), which scripts already written keep.
"""
from __future__ import annotations

from enum import Enum
from functools import cache
from typing import NamedTuple

from hcdbg.smccc.numbers import decimal


class AnswerSource(Enum):
    """Who chose an answer; `word` is the session's spelling, `by` the script's."""

    USER = ("reply", "user")  # registers given by hand (`reply`)
    BUILT_IN = ("handle", "built-in")  # the built-in handler (the filter's handle, or `handle`)
    DENY = ("deny", "deny")  # NOT_SUPPORTED as the profile denies (the filter, or `deny`)
    RULE = ("rule", "rule")  # a conditional answer rule (`answer`)

    def __init__(self, word: str, by: str) -> None:
        self.word = word
        self.by = by


#: The `calls` filter words, by the session's spelling ("rules" too).
FILTER_WORDS: dict[str, AnswerSource] = {s.word: s for s in AnswerSource} | {"rules": AnswerSource.RULE}
_BY: dict[str, AnswerSource] = {s.by: s for s in AnswerSource if s is not AnswerSource.RULE}


class AnsweredBy(NamedTuple):
    """Who answered one call. A NamedTuple: the session keeps one per call, and the common
    ones are the constants below (no allocation on the hot path)."""

    kind: AnswerSource
    rule: int = 0  # the rule's number (1, 2, ...) when kind is RULE
    replay: bool = False  # the answer came from a replayed call script

    def __str__(self) -> str:
        """`handle`, `rule 2`, `replay reply`: as trace lines and `calls` show it."""
        word = f"rule {self.rule}" if self.kind is AnswerSource.RULE else self.kind.word
        return f"replay {word}" if self.replay else word

    @property
    def by(self) -> str:
        """The call script's spelling: `built-in`, `deny`, `user` or `rule N`."""
        return f"rule {self.rule}" if self.kind is AnswerSource.RULE else self.kind.by

    def replayed(self) -> AnsweredBy:
        """The same source, as given by a replayed script."""
        return _replayed(self)


BUILT_IN = AnsweredBy(AnswerSource.BUILT_IN)
DENIED = AnsweredBy(AnswerSource.DENY)
BY_USER = AnsweredBy(AnswerSource.USER)


@cache
def by_rule(number: int) -> AnsweredBy:
    """Answer rule `number` (one value per rule, made once)."""
    return AnsweredBy(AnswerSource.RULE, number)


@cache
def _replayed(answered: AnsweredBy) -> AnsweredBy:
    return answered._replace(replay=True)


def parse_by(text: str) -> AnsweredBy | None:
    """A script's `by` ("built-in", "deny", "user", "rule N") as a source; None if it is
    none of these."""
    source = _BY.get(text)
    if source is not None:
        return AnsweredBy(source)
    word, _, number = text.partition(" ")
    rule = decimal(number)
    if word == AnswerSource.RULE.by and rule is not None:
        return by_rule(rule)
    return None


#: The script spellings `by` accepts, for messages.
BY_WORDS = tuple(_BY)
