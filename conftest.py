"""Test tiers: a test that starts a real service, script, browser or git server is marked
`slow`, here by the fixtures it uses, or in test_releaser.py by `@pytest.mark.slow` where it
starts releaser.py itself.

    .venv/bin/python -m pytest -q -m "not slow" -n 4   # the fast tier: seconds
    .venv/bin/python -m pytest -q -n 4                 # everything (what CI runs)
"""

#: Fixtures that start real processes: the service, pre-deploy.sh, Chromium, git servers.
SLOW_FIXTURES = {"releaser", "service", "idle_service", "populated", "gated", "keyed",
                 "predeploy", "chromium", "git_http_server", "git_ssh_server", "dumb_git",
                 "receivers", "tiny_disk"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts a real service, script or browser")


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("slow")
