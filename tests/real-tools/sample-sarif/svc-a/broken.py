"""A file bandit cannot parse: it reports a syntax error and skips it."""


def handler(request)
    return request
