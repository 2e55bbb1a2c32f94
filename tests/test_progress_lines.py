"""Off a terminal, long LLM-side stages print progress lines (done/total, percent, ETA)."""

from recsys.io.progress import LogProgress, progress_bar


def test_off_a_terminal_progress_is_log_lines(capsys):
    bar = progress_bar(10, "profile ml-100k (keywords-tfidf)", "prompt", every=0.0)
    assert isinstance(bar, LogProgress)  # pytest's stderr is not a terminal
    for _ in range(10):
        bar.update(1)
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("profile ml-100k (keywords-tfidf): 1/10 prompts (10%)") and "ETA" in lines[0]
    assert "10/10 prompts (100%)" in lines[-1]
