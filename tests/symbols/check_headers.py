#!/usr/bin/env python3
"""Rules of the installed headers that a compiler does not check.

usage: check_headers.py HEADER.h...

  - Every `TS_..._INIT` macro is a designated initialiser: each of its top-level elements names
    its field (`.version = ...`), so that a field added to the struct can never shift a default
    into the wrong slot.
  - Every public `..._options` struct starts with `unsigned version`.

Exit status 0 when every header follows them, 1 otherwise.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cheader import strip_comments  # noqa: E402


def top_level_elements(body):
    """The comma-separated elements of a brace list, nested braces and parentheses kept."""
    out, depth, cur = [], 0, []
    for c in body:
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return [e.strip() for e in out if e.strip()]


def check(path):
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read(), strings=False)
    joined = re.sub(r"\\\n", " ", text)
    problems, inits = [], 0
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(TS_\w+_INIT)\b(.*)$", joined, re.M):
        inits += 1
        name, body = m.group(1), m.group(2).strip()
        if not (body.startswith("{") and body.endswith("}")):
            problems.append("%s: %s is not a brace-enclosed initialiser" % (path, name))
            continue
        for e in top_level_elements(body[1:-1]):
            if not re.match(r"\.\w+\s*=", e):
                problems.append("%s: %s: element '%s' does not name its field (.field = ...)"
                                % (path, name, e[:40]))
    for m in re.finditer(r"typedef\s+struct\s+(\w+_options)\s*\{\s*([^;]*);", text):
        if not re.fullmatch(r"unsigned(\s+int)?\s+version", m.group(2).strip()):
            problems.append("%s: struct %s does not start with 'unsigned version'"
                            % (path, m.group(1)))
    return problems, inits


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    problems, inits = [], 0
    for h in sys.argv[1:]:
        p, n = check(h)
        problems += p
        inits += n
    for p in problems:
        print("FAIL: " + p)
    print("headers: %d checked, %d _INIT macros, %d problems" % (len(sys.argv) - 1, inits,
                                                                 len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
