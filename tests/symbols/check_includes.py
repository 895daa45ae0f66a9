#!/usr/bin/env python3
"""The programs built on the libraries use their public headers only.

usage: check_includes.py SOURCE_DIR

No C file of the token service's CLI and service, or of examples/, includes a private header of
a library (a file under authn/src, authz/src, mhd/src, testutil/src, tokenservice/store/src or
tokenservice/oidc/src): what a program needs from a library belongs in its installed header,
where it is documented and versioned. The private base layer (common/) is shared by design and
allowed. Exit status 0 when no such include is found, 1 otherwise.
"""
import os
import re
import sys

LIBRARY_SRC = ["authn/src", "authz/src", "mhd/src", "testutil/src", "tokenservice/store/src",
               "tokenservice/oidc/src"]
# Program directories, and where each may look for its own headers (the CLI and the service
# are one program: the CLI includes the service's headers).
PROGRAMS = {
    "tokenservice/cli": ["tokenservice/cli", "tokenservice/service/src", "tokenservice/agent/src"],
    "tokenservice/service": ["tokenservice/service/src", "tokenservice/service/tests"],
    "examples": None,  # each example only its own directory
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    problems = files = 0
    for prog, own in PROGRAMS.items():
        for d, _, names in os.walk(os.path.join(root, prog)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                files += 1
                path = os.path.join(d, n)
                rel = os.path.relpath(path, root)
                dirs = [os.path.join(root, o) for o in own] if own else [d]
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    inc = m.group(1)
                    if any(os.path.exists(os.path.join(x, inc)) for x in [d] + dirs):
                        continue
                    for lib in LIBRARY_SRC:  # a library's src/ is its private include root
                        if os.path.exists(os.path.join(root, lib, inc)):
                            line = text.count("\n", 0, m.start()) + 1
                            print("FAIL: %s:%d includes \"%s\", a private header of %s"
                                  % (rel, line, inc, lib))
                            problems += 1
    print("includes: %d files of programs checked, %d private headers of libraries included"
          % (files, problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
