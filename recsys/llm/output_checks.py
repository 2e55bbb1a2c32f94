"""Is an LLM output usable? Small models fail in a few recognisable ways; each has a name here.

``problem(text, finish, check)`` returns the first problem's name, or None for a usable output:
- ``empty``: nothing but whitespace or punctuation;
- ``truncated``: the backend says generation stopped at ``max_tokens`` (finish reason ``length``);
- ``repeated``: a loop (one word sequence of 4 words three times or more, or under 35% distinct words
  in a text of 24 words or more);
- ``refusal``: the model declines or talks about itself instead of answering;
- ``off-format``: the step's own check (``check(text)`` returns a reason) says it is not what was asked.
An output cut at ``max_tokens`` whose complete sentences pass every check is kept up to its last full
stop (counted as ``trimmed``). CachedGeneration retries an unusable output with seeded sampling and
records the usable share.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

_WORDS = re.compile(r"[\w']+")
_REFUSAL = re.compile(r"\b(i'?m sorry|i am sorry|i cannot|i can'?t (help|assist|provide)|as an ai\b|"
                      r"as a language model|i'?m (just )?an ai|i do not have (access|enough))", re.IGNORECASE)

PROBLEMS = ("empty", "truncated", "repeated", "refusal", "off-format")


def problem(text: str | None, finish: str | None = None, check: Callable[[str], str | None] | None = None) -> str | None:
    words = _WORDS.findall((text or "").lower())
    if not words:
        return "empty"
    if finish == "length":
        return "truncated"
    if _looping(words):
        return "repeated"
    if _REFUSAL.search(text):
        return "refusal"
    if check is not None and check(text):
        return "off-format"
    return None


def trim_to_sentence(text: str) -> str | None:
    """An output cut at ``max_tokens``, up to its last complete sentence (None if it has none)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[:ends[-1]].strip() if ends else None


def _looping(words: list[str]) -> bool:
    grams = Counter(tuple(words[i:i + 4]) for i in range(len(words) - 3))
    if grams and grams.most_common(1)[0][1] >= 3:
        return True
    return len(words) >= 24 and len(set(words)) / len(words) < 0.35


def sentences_check(min_words: int = 6) -> Callable[[str], str | None]:
    """Profiles and notes: prose of at least ``min_words`` words, not a bare list of items."""
    def check(text: str) -> str | None:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(_WORDS.findall(text)) < min_words:
            return f"fewer than {min_words} words"
        if lines and sum(bool(re.match(r"\s*(\d+[.)]|[-*•])\s", ln)) for ln in lines) > len(lines) / 2:
            return "a list, not prose"
        return None
    return check


def short_answer_check(max_words: int = 40) -> Callable[[str], str | None]:
    """An item description or a list of picks: short; not an essay."""
    def check(text: str) -> str | None:
        return f"more than {max_words} words" if len(_WORDS.findall(text)) > max_words else None
    return check
