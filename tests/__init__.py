"""The test suite, a package so that its helpers are imported by package path (tests.support.*)
with the repository root on sys.path, as pytest puts it there for a package of tests."""
