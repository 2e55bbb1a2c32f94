"""Output validation and retries: an unusable LLM output is named, retried with seeded sampling, counted."""

from recsys.llm.generation import CachedGeneration
from recsys.llm.generators import KeywordProfileFallback, TextGenerator
from recsys.llm.output_checks import problem, sentences_check, short_answer_check, trim_to_sentence

PROSE = "This viewer enjoys character-driven dramas and quiet romances from the nineties."


def test_each_problem_is_named():
    check = sentences_check()
    assert problem(PROSE, "stop", check) is None
    assert problem("  ...  ", "stop", check) == "empty"
    assert problem(PROSE, "length", check) == "truncated"
    assert problem("I like it a lot. " * 6, "stop", check) == "repeated"
    assert problem("I'm sorry, but I cannot describe this user's preferences.", "stop", check) == "refusal"
    assert problem("1. Heat\n2. Casino\n3. Fargo and more films", "stop", check) == "off-format"  # a list
    assert problem("Likes dramas.", "stop", check) == "off-format"  # too short
    assert problem("a " * 41, None, short_answer_check(40)) is not None


def test_truncated_text_is_trimmed_to_its_last_sentence():
    assert trim_to_sentence("Likes noir. Prefers the 1940s. Also enjoys the odd") == "Likes noir. Prefers the 1940s."
    assert trim_to_sentence("no full stop at all") is None


class Flaky(TextGenerator):
    """Greedy answers are unusable (a refusal); sampled ones are prose."""
    name, model = "flaky", "flaky-1"

    def _generate(self, prompt, *, temperature, max_tokens, seed, system):
        return PROSE + f" ({seed})" if temperature > 0 else "I'm sorry, I cannot help with that."


class Truncating(TextGenerator):
    name, model, last_finish_reason = "truncating", "t-1", "length"

    def _generate(self, prompt, **kw):
        return PROSE + " They also like the occasional"


def test_unusable_outputs_are_retried_with_sampling_and_counted(ml100k):
    g = Flaky()
    gen = CachedGeneration(ml100k, g, max_tokens=32, seed=5, flush_every=10, progress=False, system="s",
                           namespace="checks-test", check=sentences_check())
    out = gen.run(["p1", "p2", "p3"], [1, 2, 3], "test")
    assert out == [PROSE + " (6)"] * 3  # the first retry's seed is seed + 1
    assert gen.quality == {"outputs": 3, "usable_first_try": 0, "trimmed": 0, "retried": 3, "usable": 3,
                           "problems": {"refusal": 3}}
    assert g.calls == 6
    again = CachedGeneration(ml100k, g, max_tokens=32, seed=5, flush_every=10, progress=False, system="s",
                             namespace="checks-test", check=sentences_check())
    assert again.run(["p1", "p2", "p3"], [1, 2, 3], "test") == out and g.calls == 6  # all from the cache


def test_truncated_outputs_keep_their_complete_sentences(ml100k):
    gen = CachedGeneration(ml100k, Truncating(), max_tokens=32, seed=0, flush_every=10, progress=False,
                           system="s", namespace="checks-trim", check=sentences_check())
    assert gen.run(["p"], [1], "test") == [PROSE]
    assert gen.quality["trimmed"] == 1 and gen.quality["usable"] == 1 and gen.quality["retried"] == 0


def test_unusable_after_every_retry_is_flagged_not_dropped(ml100k):
    class Refuser(Flaky):
        name = "refuser"

        def _generate(self, prompt, **kw):
            return "As an AI, I cannot do that."

    gen = CachedGeneration(ml100k, Refuser(), max_tokens=32, seed=0, flush_every=10, progress=False, system="s",
                           namespace="checks-refuse", retries=2)
    assert gen.run(["a", "b"], [1, 2], "test") == ["As an AI, I cannot do that."] * 2
    assert gen.unusable == {0, 1} and gen.quality["usable"] == 0 and gen.g.calls == 6


def test_a_named_fallback_is_never_retried(ml100k):
    g = KeywordProfileFallback(["drama film", "comedy film"])
    gen = CachedGeneration(ml100k, g, max_tokens=32, seed=0, flush_every=10, progress=False, system="s",
                           namespace="checks-fallback", check=sentences_check())
    gen.run(["ITEMS: drama", "ITEMS: comedy"], [1, 2], "test")
    assert g.calls == 2 and gen.quality["retried"] == 0


def test_augmentation_answers_are_read_by_the_titles_they_name_before_their_numbers():
    """SmolLM2 answers "1. Ghost (1990). Categories: ..." with titles; a number-only reader would take the
    list number, and a year would never match. Titles first, in the order named; numbers otherwise."""
    from recsys.llm.augment import candidate_title, parse_picks

    titles = [candidate_title(t) for t in ("Antz (1998). Categories: Animation", "Ghost (1990). Categories: Drama",
                                           "Heat (1995). Categories: Crime")]
    assert titles[1] == "ghost (1990)"
    answer = "The user would most plausibly interact with:\n1. Heat (1995). Categories: Crime\n2. Ghost (1990)"
    assert parse_picks(answer, titles, 3) == ([2, 1], "title")
    assert parse_picks("2, 3", titles, 3) == ([1, 2], "number")
    assert parse_picks("Candidate 7 and 9", titles, 3) == ([], "unread")
    assert parse_picks("None of them fits.", titles, 3) == ([], "none")


def test_a_pick_list_cut_at_the_token_limit_is_still_usable():
    from recsys.llm.augment import _numbers_or_none
    from recsys.llm.generation import CachedGeneration

    class Cut:
        name, model, is_llm, batched, variant = "cut-test", "m", True, True, ""
        calls = 0

        def generate_many(self, prompts, **kw):
            self.calls += len(prompts)
            self.last_finishes = ["length"] * len(prompts)
            return ["1. Heat (1995). Categories: Crime, Dra"] * len(prompts)

        def describe(self):
            return {}

    class DS:
        name = "cut"

    for whole_text, usable in ((False, 1), (True, 1)):
        gen = CachedGeneration(DS(), Cut(), max_tokens=8, seed=0, flush_every=10, progress=False, system="s",
                               namespace=f"cut-{whole_text}", check=_numbers_or_none, whole_text=whole_text)
        out = gen.run(["p"], [1], "augment")
        assert gen.quality["usable"] == usable
        if whole_text:  # prose steps: cut back to the last full sentence, counted as trimmed
            assert gen.quality["trimmed"] == 1 and out == ["1. Heat (1995)."]
        else:  # pick lists: the cut answer is used whole, nothing trimmed or retried
            assert gen.quality["trimmed"] == gen.quality["retried"] == 0 and out[0].endswith("Dra")
