"""Report: tables, parameter importance, plots (one module per figure family) and HTML pages of a study."""
