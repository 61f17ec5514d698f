"""Evaluation: windowed inference, macro-AUC with the benchmark's bootstrap, paired comparisons."""
