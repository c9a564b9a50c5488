"""pytest plugin for CI: a test that needs PostgreSQL, Redis or a browser must run, not skip.

Loaded by ``.ci/run`` with ``-p require_integration`` (``.ci`` on ``PYTHONPATH``);
never by a developer's plain ``pytest``, where skipping those tests is fine.

A test counts as needing a service when it carries one of the markers
``postgresql``, ``redis`` or ``browser`` (directly, through its module or class,
or through ``pytest.param(..., marks=...)``), or when its skip reason names a
``CHAT_TEST_*`` variable. If any such test was skipped, the session fails and
the summary lists them.

The fault tests (``tests/integration/test_fault_*.py``: a filled tmpfs, a private
PostgreSQL cluster restarted, a private Redis stopped) need root and Debian's
PostgreSQL and Redis binaries rather than the shared services; they skip with a
reason naming ``CHAT_TEST_DATABASE_URL``, so CI, which sets it and runs as root,
fails if one of them cannot run.
"""

from __future__ import annotations

import pytest

SERVICE_MARKERS = ("postgresql", "redis", "browser")


class RequireIntegration:
    def __init__(self) -> None:
        self.needs_service: set[str] = set()
        self.skipped: list[str] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if any(item.get_closest_marker(name) is not None for name in SERVICE_MARKERS):
                self.needs_service.add(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        longrepr = report.longrepr
        reason = str(longrepr[-1]) if isinstance(longrepr, tuple) else str(longrepr)
        if report.nodeid in self.needs_service or "CHAT_TEST_" in reason:
            self.skipped.append(f"{report.nodeid}: {reason}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.skipped and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            terminalreporter.write_line(
                f"require_integration: all {len(self.needs_service)} PostgreSQL/Redis/browser tests ran"
            )
            return
        terminalreporter.section("tests that need a service were SKIPPED (CI requires them)", red=True)
        for line in self.skipped:
            terminalreporter.write_line(line, red=True)
        terminalreporter.write_line(
            f"{len(self.skipped)} service test(s) skipped: start the service or set its CHAT_TEST_* variable",
            red=True,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequireIntegration(), "require_integration_checker")
