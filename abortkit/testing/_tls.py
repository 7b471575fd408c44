"""TLS material for the loopback services: a throwaway CA and the contexts that use it.

Why a real CA and not ``verify=False``: an abort has to wake a read that is blocked inside the TLS
layer, and the client's TLS code paths (certificate checks, ``SSLSocket`` wrapping, close_notify)
only run when verification is on. So the services present a certificate signed by a per-service
``trustme`` CA, and tests hand the client either :meth:`TLSMaterial.client_context` or the CA's PEM
file. ``trustme`` is imported lazily so that plain-HTTP users do not need it.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from typing import TYPE_CHECKING

from ._extras import missing_extra

if TYPE_CHECKING:
    import trustme

__all__ = ["TLSMaterial"]


class TLSMaterial:
    """A CA, a server certificate for the loopback names, and the CA certificate as a PEM file.

    The PEM file exists from construction until :meth:`close`, because SDKs and ``httpx``
    accept a path (``verify="/path/ca.pem"``, ``SSL_CERT_FILE``) as often as a context.
    """

    def __init__(self, host: str) -> None:
        try:
            import trustme
        except ImportError as error:
            missing = missing_extra(error, "abortkit.testing over TLS (tls=True)")
            if missing is None:
                raise
            raise missing from None  # the message names the module and the extra
        self.ca: trustme.CA = trustme.CA()
        names = {host, "127.0.0.1", "localhost"}
        self._server_cert = self.ca.issue_cert(*sorted(names))
        fd, path = tempfile.mkstemp(prefix="abortkit-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.ca.cert_pem.bytes())
        self.ca_cert_pem_path: str | None = path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the loopback certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_cert.configure_cert(ctx)
        # Only HTTP/1.1 is spoken; advertising it keeps ALPN-aware clients on the same path.
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A fresh client context that trusts only this CA (hostname checks stay on)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        return ctx

    def close(self) -> None:
        """Remove the PEM file; idempotent."""
        path, self.ca_cert_pem_path = self.ca_cert_pem_path, None
        if path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
