"""Service A: a small request handler with deliberate security defects (scanner sample)."""
import hashlib
import pickle
import subprocess

import yaml

PASSWORD = "hunter2-but-longer"


def run(command):
    # Shell injection: the command comes from the request.
    return subprocess.call(command, shell=True)


def load(blob):
    return pickle.loads(blob)


def config(text):
    return yaml.load(text)


def digest(data):
    return hashlib.md5(data).hexdigest()


def calculate(expression):
    return eval(expression)


def audited(expression):
    # Reviewed: the expression is a constant from our own config file.
    return eval(expression)  # nosec B307  # nosemgrep: sample-python-eval  # noqa: S307
