"""Autobahn testsuite conformance harness for wsfast (see README.md in this directory).

The echo agents (``echo_server.py``, ``echo_client.py`` and their ``_sync`` twins) are
scripts run in subprocesses by ``run.py``; none of them is a test module.
"""
