"""The reliability suite uses the shared Label Studio fixtures (tests/labelstudio_fixtures.py, loaded
as a plugin by tests/conftest.py): one real server per session, a unique project per test and the
in-process annotation pipeline."""
