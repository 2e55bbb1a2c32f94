"""Reports: leaderboard tables (and, later, significance marks, plots, HTML, LaTeX)."""
