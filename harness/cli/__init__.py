"""The command line, a thin layer over the public API: `parser` (the options; their types in `args`),
one module per family of commands (`study`: search, show, export, report; `zoo`: profile, presets;
`data`: datasets; `rank`), `console` (exit statuses, the lines they print) and `main` (dispatch);
each command imports only what it uses when it runs."""
