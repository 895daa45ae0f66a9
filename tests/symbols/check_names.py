#!/usr/bin/env python3
"""Every ts_ / TS_ name that an installed header or the documentation mentions exists.

usage: check_names.py SOURCE_DIR

A renamed or removed function otherwise lives on in a comment or a guide, and readers call what
is not there. Mentions are looked for everywhere in the installed headers (comments included),
in docs/*.md and in every README.md. A name exists when:

  - for a mention in an installed header: it is declared or used outside comments in an
    installed header (every library's include/tokensmith/*.h, include/tokensmith/*.h and the
    generated version.h's template), or it is a name of the build (CMake options, targets);
  - for a mention in the documentation: the same, or it appears outside comments in the
    sources, shell scripts included (the documentation may describe internals, such as
    ts_store__sq_write_stats, and environment variables, which the sources name in string
    literals and the scripts read by name).

`NAME_*` and a name ending in '_' stand for every name with that prefix: at least one must
exist. Exit status 0 when every mention resolves, 1 otherwise.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cheader import strip_comments  # noqa: E402

NAME = re.compile(r"(?<![A-Za-z0-9_])(?:ts|TS)_[A-Za-z0-9_]*(\*)?")
SKIP_DIRS = {".git", "node_modules"}


def walk(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not
                         (d == root and x.startswith("build")))
        for f in sorted(files):
            yield os.path.relpath(os.path.join(d, f), root)


def names_in(text):
    return set(m.group(0).rstrip("*") for m in NAME.finditer(text))


def resolves(name, defined):
    if name.endswith("_"):
        return any(d.startswith(name) for d in defined)
    return name in defined


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    files = list(walk(root))

    def read(rel):
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            return f.read()

    headers = [f for f in files if re.search(r"(^|/)include/tokensmith/[^/]+\.h$", f)]
    headers_in = headers + [f for f in files if f.endswith("include/tokensmith/version.h.in")]
    build = [f for f in files if os.path.basename(f) == "CMakeLists.txt" or f.endswith(".cmake")
             or (f.startswith("cmake/") and f.endswith(".in"))]
    # Shell scripts count as sources: the benchmark and test scripts read variables by name.
    sources = [f for f in files if f.endswith((".c", ".h", ".sh"))]
    docs = [f for f in files if (f.startswith("docs/") and f.endswith(".md"))
            or os.path.basename(f) == "README.md"]

    public = set()
    for f in headers_in:
        public |= names_in(strip_comments(read(f)))
    for f in build:
        public |= names_in(read(f))
    anywhere = set(public)
    for f in sources:  # string literals count: environment variables are read by name
        anywhere |= names_in(strip_comments(read(f), strings=False))

    problems = checked = 0
    for group, defined, what in ((headers, public, "an installed header or the build"),
                                 (docs, anywhere, "the headers, the build or the sources")):
        for f in group:
            for ln, line in enumerate(read(f).splitlines(), 1):
                for m in NAME.finditer(line):
                    name = m.group(0)
                    if m.group(1):  # NAME_* : a family of names
                        name = name.rstrip("*")
                    checked += 1
                    if not resolves(name, defined):
                        print("FAIL: %s:%d: %s is mentioned but exists in none of %s"
                              % (f, ln, m.group(0), what))
                        problems += 1
    print("names: %d mentions in %d headers and %d documents, %d not found"
          % (checked, len(headers), len(docs), problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
