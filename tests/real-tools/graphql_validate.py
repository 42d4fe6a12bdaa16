#!/usr/bin/env python3
"""Validates a GraphQL document (stdin) against a GraphQL schema in SDL (argv[1]) with
graphql-core: prints each error and exits 1 when there is one, 0 when the document is valid.
The fake GitHub runs it on the query sdl-gate sends (tests/fake_github/graphql.rs)."""
import sys

from graphql import build_schema, parse, validate


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        # GitHub's published schema uses directives graphql-core's SDL checks reject.
        schema = build_schema(f.read(), assume_valid_sdl=True)
    document = parse(sys.stdin.read())
    errors = validate(schema, document)
    for e in errors:
        print(e.message)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
