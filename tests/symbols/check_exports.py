#!/usr/bin/env python3
"""Check the exported symbols of every installed library against its installed headers.

usage: check_exports.py [--nm NM] (--lib NAME [--archive LIB.a] [--shared LIB.so]
                                   --header HEADER.h...)...

For each library, the symbols it defines globally (`nm -g --defined-only` on the static archive,
`nm -D --defined-only` on the shared library) are compared with the functions its installed
headers declare with TS_API. It fails on:

  - a symbol of the archive that no installed header declares and that lacks a private prefix
    (`ts_<lib>__`, or `ts_common__` of the private base layer compiled into every library):
    such a name can clash with another library linked into the same program;
  - a symbol of the shared library that no installed header declares: everything else is built
    with hidden visibility, private prefixes included;
  - a function declared TS_API in an installed header that the archive or the shared library
    does not export;
  - a TS_API declaration whose name does not start with one of the library's public prefixes.

Names starting with '_' (toolchain and sanitizer symbols such as __odr_asan.*, _init) are not
ours and are skipped. Exit status 0 when every library passes, 1 otherwise.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cheader import api_functions  # noqa: E402

# Public prefixes of each installed library; its private prefix is ts_<lib>__.
PUBLIC = {
    "authz": ["ts_authz_"],
    "authn": ["ts_authn_", "ts_jwk_", "ts_jwks_", "ts_jws_", "ts_jose_", "ts_b64url_"],
    "mhd": ["ts_mhd_"],
    "testutil": ["ts_testutil_"],
    "store": ["ts_store_"],
    "oidc": ["ts_oidc_"],
    "client": ["ts_client_"],
}
BASE_PRIVATE = "ts_common__"


def parse_args(argv):
    nm, libs, cur = "nm", [], None
    it = iter(argv)
    for a in it:
        if a == "--nm":
            nm = next(it)
        elif a == "--lib":
            cur = {"name": next(it), "archive": None, "shared": None, "headers": []}
            libs.append(cur)
        elif a in ("--archive", "--shared", "--header") and cur is not None:
            v = next(it)
            if a == "--header":
                cur["headers"].append(v)
            else:
                cur[a[2:]] = v
        else:
            sys.exit("usage: check_exports.py [--nm NM] (--lib NAME [--archive A] [--shared S] "
                     "--header H...)...")
    return nm, libs


def exported(nm, path, dynamic):
    args = [nm, "-D" if dynamic else "-g", "--defined-only", path]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(args), r.stderr.strip()))
    names = set()
    for line in r.stdout.splitlines():
        f = line.split()
        # "ADDRESS TYPE NAME"; archive member headers ("x.o:") and blank lines have fewer fields.
        if len(f) == 3 and not f[2].startswith("_"):
            names.add(f[2].split("@")[0])
    return names


def check(nm, lib):
    name = lib["name"]
    if name not in PUBLIC:
        return ["%s: no public prefixes known for this library (add it to PUBLIC)" % name]
    public, private = PUBLIC[name], ("ts_%s__" % name, BASE_PRIVATE)
    declared = set()
    for h in lib["headers"]:
        with open(h, encoding="utf-8") as f:
            declared |= api_functions(f.read())
    problems = []
    for d in sorted(declared):
        if d.startswith(private) or not d.startswith(tuple(public)):
            problems.append("%s: %s is declared TS_API but does not start with %s"
                            % (name, d, " or ".join(public)))
    for kind, path in (("archive", lib["archive"]), ("shared", lib["shared"])):
        if not path:
            continue
        syms = exported(nm, path, kind == "shared")
        base = os.path.basename(path)
        for s in sorted(syms - declared):
            if kind == "shared":
                problems.append("%s: %s exports %s, which no installed header declares"
                                % (name, base, s))
            elif not s.startswith(private):
                problems.append("%s: %s exports %s, which no installed header declares and "
                                "which lacks the private prefix %s" % (name, base, s, private[0]))
        for d in sorted(declared - syms):
            problems.append("%s: %s does not export %s, declared TS_API in an installed header"
                            % (name, base, d))
        print("%s: %s: %d symbols, %d declared in %s"
              % (name, base, len(syms), len(declared & syms),
                 ", ".join(os.path.basename(h) for h in lib["headers"])))
    return problems


def main():
    nm, libs = parse_args(sys.argv[1:])
    if not libs:
        sys.exit("no library given")
    problems = []
    for lib in libs:
        problems += check(nm, lib)
    for p in problems:
        print("FAIL: " + p)
    print("exports: %d libraries, %d problems" % (len(libs), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
