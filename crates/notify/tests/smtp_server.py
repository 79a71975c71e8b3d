"""A real SMTP server for the email channel's tests (aiosmtpd from PyPI).

It requires TLS (STARTTLS on a plain port, or implicit TLS) and AUTH, accepts one user, and
writes every message it accepts to OUT/N.json, parsed by Python's own email package: the
envelope, the login that sent it, the headers, and each MIME part's type and decoded text.

usage: smtp_server.py PORT starttls|tls CERT KEY USER PASSWORD OUT
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    warnings.filterwarnings("ignore")  # aiosmtpd's deprecation notes about its own attributes
    port, mode, cert, key, user, password, out = sys.argv[1:8]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    class Handler:
        def __init__(self):
            self.count = 0

        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            parts = []
            for part in message.walk():
                if part.is_multipart():
                    parts.append({"type": part.get_content_type()})
                else:
                    parts.append({"type": part.get_content_type(), "text": part.get_content()})
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
                "tls": session.ssl is not None or mode == "tls",
                "headers": {k.lower(): str(v) for k, v in message.items()},
                "parts": parts,
            }
            self.count += 1
            path = os.path.join(out, f"{self.count:04}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(path + ".tmp", path)
            return "250 OK"

    common = dict(
        hostname="127.0.0.1",
        port=int(port),
        authenticator=authenticator,
        auth_required=True,
    )
    if mode == "tls":
        # Implicit TLS: every byte is encrypted, but aiosmtpd only counts STARTTLS as TLS.
        controller = Controller(Handler(), ssl_context=context, auth_require_tls=False, **common)
    else:
        controller = Controller(
            Handler(), tls_context=context, require_starttls=True, auth_require_tls=True, **common
        )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or dies)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
