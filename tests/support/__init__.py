"""What the test files share, imported by package path (`from tests.support.inprocess import run_cli`);
the shared fixtures are in tests/conftest.py.

- `browser`: a page as a person sees it, in headless Chromium (`open_page`, `check_reads_well`).
- `faults`: the fault tests' tiny space and fast search, folder hashes, a real tmpfs.
- `hostile`: names and files made by someone else (an image folder of HTML, quotes, bad bytes, loops).
- `inprocess`: the CLI run in this process (`run_cli`).
- `networks`: a two-stage network of any block family, built and run forward and backward.
- `pgcluster`: a throw-away PostgreSQL server (`temporary_cluster`), for tests and bench/.
- `tiny`: the search tests' tiny space (`TINY`, `tiny_space`) and an optimizer step counter.
"""
