"""Service B: another handler, with its own eval on request data (scanner sample)."""
import subprocess


def handle(request):
    value = request.args["expr"]
    return eval(value)


def ping(host):
    return subprocess.check_output("ping -c 1 " + host, shell=True)
