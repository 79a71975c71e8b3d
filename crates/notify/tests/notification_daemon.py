"""A freedesktop notification server for the desktop channel's test (dbus-next, PyPI).

It owns org.freedesktop.Notifications on the bus at ADDRESS, answers Notify as the
Desktop Notifications Specification says (signature susssasa{sv}i, returning the id), and
writes each call's arguments to OUT as one JSON line.

usage: notification_daemon.py ADDRESS OUT
"""

import asyncio
import json
import sys

from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method


class Notifications(ServiceInterface):
    def __init__(self, out):
        super().__init__("org.freedesktop.Notifications")
        self.out = out
        self.count = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        self.count += 1
        record = {
            "app_name": app_name,
            "replaces_id": replaces_id,
            "summary": summary,
            "body": body,
            "actions": actions,
            "hints": {k: {"signature": v.signature, "value": v.value} for k, v in hints.items()
                      if isinstance(v.value, (int, str, bool))},
            "expire_timeout": expire_timeout,
        }
        with open(self.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return self.count

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["watchpost-test", "watchpost", "1", "1.2"]

    @method()
    def CloseNotification(self, id: "u"):
        pass


async def main():
    address, out = sys.argv[1:3]
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/org/freedesktop/Notifications", Notifications(out))
    await bus.request_name("org.freedesktop.Notifications")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
