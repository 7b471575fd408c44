"""abortkit.testing: prove abort handling against real sockets and real SDKs.

Filled in by the testing modules (server, scripts, proxy, race harness).
"""
