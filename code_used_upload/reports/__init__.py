"""Reports: the paper's table, figures and comparisons, rebuilt from the cell folders."""
