#!/usr/bin/env python3
"""A small pytm model of a web service, for sdl-gate's real-tool tests.

`python3 tm.py --json tm.json` writes the model as pytm JSON (the threat-model file the
gate reads); `python3 tm.py --dfd > tm.dot` writes its data-flow diagram (a companion file).
"""

from pytm import TM, Actor, Boundary, Dataflow, Datastore, Process, Server

tm = TM("sdl-gate sample service")
tm.description = "A browser talks to a web server that stores orders in a database."
tm.isOrdered = True

internet = Boundary("Internet")
dmz = Boundary("DMZ")

user = Actor("Customer")
user.inBoundary = internet

web = Server("Web server")
web.inBoundary = dmz
web.OS = "Debian"
web.isHardened = True

worker = Process("Order worker")
worker.inBoundary = dmz

db = Datastore("Orders database")
db.inBoundary = dmz
db.isSQL = True

Dataflow(user, web, "Order request (HTTPS)").protocol = "HTTPS"
Dataflow(web, worker, "Queue order")
Dataflow(worker, db, "Insert order").protocol = "PostgreSQL"

if __name__ == "__main__":
    tm.process()
