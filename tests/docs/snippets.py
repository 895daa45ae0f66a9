#!/usr/bin/env python3
"""Check every fenced code block of the documentation.

usage: snippets.py --src SOURCE_DIR --build BUILD_DIR [--cflags FLAGS] [--list] [FILE.md ...]

Each block is checked according to its language (the word after the opening fence):

  c                 compiled against the installed build tree, testutil component included
                    (pkg-config: tokensmith-authn, tokensmith-authz, tokensmith-mhd,
                    tokensmith-store, tokensmith-oidc, tokensmith-testutil,
                    tokensmith-client, libmicrohttpd)
                    with -Wall -Werror;
                    linked when it has a main(). A block marked `fragment` is only
                    syntax-checked, after every public header, at file scope or else as the
                    body of a function.
  sh, bash, shell   run with bash -e -o pipefail in the document's work directory, the build
                    tree's `tokensmith` and `minisvc` first on PATH; must exit 0 (or `exit=N`).
  console           a transcript: each `$ command` is run in one bash session and its output
                    (stdout and stderr) must match the lines that follow it; `...` or `…` in a
                    line matches any text, a line that is only `...` any number of lines.
  json              parsed (a document, or JSON lines); `fragment`: members of an object.
  ini               a Casbin model: loaded by `tokensmith policy check --model`.
  csv               parsed as CSV; policy lines (`p`/`g`) must load with the model named by
                    `model=FILE` (default: the baseline policy/model.conf).
  sql               prepared (EXPLAIN) against a store created by `tokensmith`.
  cmake             appended to a minimal CMakeLists.txt (project, C) and configured and built
                    against the installed tree; `my_test.c`/`main.c` of the work directory (or a
                    stub) is the source it names.
  text, http, mermaid
                    data shown as is: nothing to run.

A block may be preceded by an HTML comment (blank lines between are allowed):

  <!-- snippet: WORD ... -->           WORDs: skip REASON... | fragment | file=NAME |
                                       exit=N | model=FILE
  <!-- snippet: WORDS
  shell commands run before the block (hidden set-up), e.g. copying input files
  -->

`file=NAME` writes the block to NAME in the document's work directory, so that later blocks
of the same document can use it. A block without a language, with an unknown language, or
that fails its check fails the test; `skip` needs a reason. Blocks of documents maintained
elsewhere may be skipped from tests/docs/skips.txt (FILE<TAB>start of the first line<TAB>reason).
"""
import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile

DATA_LANGS = {"text", "http", "mermaid"}
HEADERS = ["error.h", "export.h", "version.h", "authz.h", "authz_http.h", "authn.h", "jose.h",
           "testutil.h", "mhd.h", "store.h", "oidc.h", "client.h"]
TIMEOUT = 120


class Block:
    def __init__(self, path, line, lang, body, marker, setup):
        self.path, self.line, self.lang, self.body = path, line, lang, body
        self.words = marker
        self.setup = setup

    def opt(self, key):
        for w in self.words:
            if w.startswith(key + "="):
                return w[len(key) + 1:]
        return None

    def flag(self, word):
        return word in self.words


def parse_marker(lines, i):
    """The snippet comment ending just before line i (blank lines skipped): (words, setup)."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].strip().endswith("-->"):
        return [], ""
    k = j
    while k >= 0 and "<!--" not in lines[k]:
        k -= 1
    if k < 0:
        return [], ""
    text = "\n".join(l.strip() for l in lines[k:j + 1])
    m = re.match(r"<!--\s*snippet:(.*?)-->\s*$", text, re.S)
    if not m:
        return [], ""
    content = m.group(1).split("\n")
    return content[0].split(), "\n".join(content[1:])


def blocks_of(path, rel):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        words, setup = parse_marker(lines, i)
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^\s*" + re.escape(fence) + r"\s*$", lines[j]):
            j += 1
        body = "\n".join(l[indent:] if l[:indent].strip() == "" else l for l in lines[start:j])
        out.append(Block(rel, start, lang, body + "\n", words, setup))
        i = j + 1
    return out


class Env:
    def __init__(self, src, build, cflags):
        self.src, self.build = os.path.abspath(src), os.path.abspath(build)
        self.cflags = cflags
        self.tmp = tempfile.mkdtemp(prefix="ts-snippets-")
        self.prefix = os.path.join(self.tmp, "prefix")
        subprocess.run(["cmake", "--install", self.build, "--prefix", self.prefix],
                       check=True, stdout=subprocess.DEVNULL)
        # The test fixtures library is a component of its own, never in a plain install.
        subprocess.run(["cmake", "--install", self.build, "--prefix", self.prefix,
                        "--component", "testutil"], check=True, stdout=subprocess.DEVNULL)
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        # `cc` as the documentation writes it, plus what this build needs: the sanitizer
        # runtime of a sanitized library, and the run path of the temporary prefix.
        real_cc = shutil.which("cc") or shutil.which("gcc")
        with open(os.path.join(bindir, "cc"), "w") as f:
            f.write('#!/bin/sh\nexec %s "$@" %s -Wl,-rpath,%s/lib\n' % (real_cc, cflags, self.prefix))
        os.chmod(os.path.join(bindir, "cc"), 0o755)
        self.env = dict(os.environ)
        self.env["PATH"] = os.pathsep.join([bindir, self.build,
                                            os.path.join(self.build, "examples", "minisvc"),
                                            self.env.get("PATH", "")])
        self.env["PKG_CONFIG_PATH"] = os.path.join(self.prefix, "lib", "pkgconfig")
        self.env["TS_SRC"] = self.src
        self.env["TS_BUILD"] = self.build
        # Where the build was installed, for blocks that name an install prefix, and the flags
        # a program linking this build needs, for CMake projects configured by a block.
        self.env["PREFIX"] = self.prefix
        self.env["CFLAGS"] = cflags
        self.env["LDFLAGS"] = (cflags + " -Wl,-rpath," + os.path.join(self.prefix, "lib")).strip()
        self.env.pop("TOKENSMITH_POLICY_DIR", None)
        self.env.pop("AUTHZ_POLICY_DIR", None)
        self.env["LC_ALL"] = "C"
        self.workdirs = {}
        self.groups = []

    def workdir(self, doc):
        if doc not in self.workdirs:
            # A view of the repository: its top-level entries linked in, `build` pointing at
            # the build tree, so that blocks can name repository files as the docs do
            # (`build/tokensmith`, `authz/tests/data/...`). Files a block writes stay here.
            d = os.path.join(self.tmp, "work", doc.replace("/", "_"))
            os.makedirs(d)
            for e in os.listdir(self.src):
                if not e.startswith(("build", ".")):
                    os.symlink(os.path.join(self.src, e), os.path.join(d, e))
            os.symlink(self.build, os.path.join(d, "build"))
            self.workdirs[doc] = d
        return self.workdirs[doc]

    def run(self, cmd, cwd, stdin=None):
        # Output goes to a file, not a pipe: a block may leave a server running in the
        # background (a later block of the same document stops it), and a pipe would stay
        # open until that server exits.
        # Each block runs in a process group of its own; what it leaves running is stopped when
        # its document is done (stop_groups), or at once when it times out.
        with tempfile.TemporaryFile(mode="w+") as out:
            p = subprocess.Popen(cmd, cwd=cwd, env=self.env, text=True, start_new_session=True,
                                 stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                 stdout=out, stderr=subprocess.STDOUT)
            self.groups.append(p.pid)
            try:
                p.communicate(stdin, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stop_groups()
                p.wait()
                raise
            out.seek(0)
            return subprocess.CompletedProcess(cmd, p.returncode, out.read())

    def stop_groups(self):
        for g in self.groups:
            try:
                os.killpg(g, signal.SIGTERM)
            except OSError:
                pass
        self.groups = []

    def pkg(self, *what):
        r = self.run(["pkg-config"] + list(what) + ["tokensmith-authn", "tokensmith-authz",
                                                    "tokensmith-mhd", "tokensmith-store",
                                                    "tokensmith-oidc", "tokensmith-testutil",
                                                    "tokensmith-client",
                                                    "libmicrohttpd"],
                     self.tmp)
        if r.returncode:
            raise RuntimeError("pkg-config: " + r.stdout)
        return r.stdout.split()


def check_c(env, b, wd):
    name = b.opt("file") or "snippet_%d.c" % b.line
    path = os.path.join(wd, name)
    cflags = env.pkg("--cflags")
    if b.flag("fragment"):
        incl = "".join("#include <tokensmith/%s>\n" % h for h in HEADERS)
        pre = ("#define _POSIX_C_SOURCE 200809L\n#include <stdbool.h>\n#include <stddef.h>\n"
               "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
               "#include <microhttpd.h>\n" + incl)
        errs = []
        for wrap in (pre + "#line 1\n" + b.body,
                     pre + "void ts_snippet(void);\nvoid ts_snippet(void)\n{\n#line 1\n" + b.body +
                     "}\n"):
            with open(path, "w") as f:
                f.write(wrap)
            r = env.run(["cc", "-std=c11", "-fsyntax-only", "-Wno-unused"] + cflags + [path], wd)
            if r.returncode == 0:
                return None
            errs.append(r.stdout)
        return "fragment does not compile at file scope:\n%s\nnor as a function body:\n%s" % tuple(errs)
    with open(path, "w") as f:
        f.write(b.body)
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
    if re.search(r"\bint\s+main\s*\(", b.body):
        out = os.path.join(wd, os.path.splitext(name)[0])
        cmd = ["cc"] + flags + cflags + ["-o", out, path] + env.pkg("--libs") + ["-lpthread"]
    else:
        cmd = ["cc"] + flags + cflags + ["-c", "-o", path + ".o", path]
    r = env.run(cmd, wd)
    return None if r.returncode == 0 else "does not compile:\n" + r.stdout


def check_sh(env, b, wd):
    want = int(b.opt("exit") or 0)
    r = env.run(["bash", "-e", "-o", "pipefail", "-c", b.body], wd)
    if r.returncode != want:
        return "exit status %d, want %d; output:\n%s" % (r.returncode, want, r.stdout)
    return None


def line_pattern(l):
    parts = re.split(r"\.\.\.|…", l)
    return ".*".join(re.escape(p) for p in parts)


def output_matches(expected, got):
    got = got.rstrip("\n")
    pat = []
    for l in expected:
        pat.append(r"(?:[^\n]*(?:\n|$))*?" if l.strip() in ("...", "…") else line_pattern(l.rstrip()) + r"[ \t]*\n?")
    rx = "".join(pat)
    return re.fullmatch(rx, got + ("\n" if got else "")) is not None or re.fullmatch(rx, got) is not None


def check_console(env, b, wd):
    cmds = []  # (command, expected lines)
    lines = b.body.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        l = lines[i]
        if not l.startswith("$ "):
            if not cmds:
                return "transcript must start with a `$ ` command line (line %d)" % (b.line + i)
            cmds[-1][1].append(l)
            i += 1
            continue
        cmd = l[2:]
        while (cmd.endswith("\\") or cmd.rstrip().endswith("|")) and i + 1 < len(lines):
            i += 1
            cmd += "\n" + lines[i]
        cmds.append((cmd, []))
        i += 1
    sep = "\x1e"
    script = []
    for c, _ in cmds:
        script.append("{ %s\n} 2>&1; __st=$?; printf '%s\\n'; (exit $__st)" % (c, sep))
    r = env.run(["bash", "-c", "\n".join(script)], wd)
    outs = r.stdout.split(sep + "\n")
    for k, (c, exp) in enumerate(cmds):
        got = outs[k] if k < len(outs) else ""
        if not output_matches(exp, got):
            return "`$ %s`\n  expected:\n%s\n  got:\n%s" % (c, "\n".join(exp), got)
    return None


def check_json(env, b, wd):
    text = b.body
    if b.flag("fragment"):
        text = "{" + text + "}"
    try:
        json.loads(text)
        return None
    except ValueError as e:
        first = e
    lines = [l for l in text.split("\n") if l.strip()]
    try:
        for l in lines:
            json.loads(l)
        return None if len(lines) > 1 else "invalid JSON: %s" % first
    except ValueError as e:
        return "invalid JSON: %s (as JSON lines: %s)" % (first, e)


def check_ini(env, b, wd):
    path = os.path.join(wd, b.opt("file") or "snippet_%d.conf" % b.line)
    with open(path, "w") as f:
        f.write(b.body)
    r = env.run(["tokensmith", "policy", "check", "--model", path], wd, stdin="")
    return None if r.returncode == 0 else "model does not load:\n" + r.stdout


def check_csv(env, b, wd):
    rows = [r for r in csv.reader(io.StringIO(b.body), skipinitialspace=True)
            if r and not r[0].lstrip().startswith("#")]
    path = os.path.join(wd, b.opt("file") or "snippet_%d.csv" % b.line)
    with open(path, "w") as f:
        f.write(b.body)
    if rows and all(r[0].strip() in ("p", "g", "p2", "g2", "g3") for r in rows):
        model = b.opt("model") or os.path.join(env.src, "policy", "model.conf")
        model = os.path.join(wd, model) if not os.path.isabs(model) else model
        d = os.path.join(wd, "csvcheck_%d" % b.line)
        os.makedirs(d, exist_ok=True)
        shutil.copy(path, os.path.join(d, "fragment.csv"))
        if b.opt("model"):
            r = env.run(["tokensmith", "policy", "check", "--model", model, "--policy", path], wd,
                        stdin="")
        else:  # the baseline: load it as a fragment, the way a service does
            r = env.run(["tokensmith", "policy", "version", "--policy-dir", d], wd)
        if r.returncode:
            return "policy lines do not load:\n" + r.stdout
    return None


def check_sql(env, b, wd):
    db = os.path.join(wd, "store_%d.db" % b.line)
    r = env.run(["tokensmith", "bootstrap-token", "create", "--subject", "s", "--audience", "a",
                 "--store", db], wd)
    if r.returncode:
        return "cannot create a store: " + r.stdout
    con = sqlite3.connect(db)
    try:
        for stmt in [s for s in b.body.split(";") if s.strip()]:
            names = re.findall(r"[:@$]([A-Za-z_][A-Za-z0-9_]*)", stmt)
            con.execute("EXPLAIN " + stmt, {n: None for n in names})
    except sqlite3.Error as e:
        return "SQL does not prepare against the store schema: %s" % e
    finally:
        con.close()
    return None


def check_cmake(env, b, wd):
    d = os.path.join(wd, "cmake_%d" % b.line)
    os.makedirs(d)
    for src in set(re.findall(r"([A-Za-z0-9_./-]+\.c)\b", b.body)):
        have = os.path.join(wd, src)
        if os.path.exists(have):
            shutil.copy(have, os.path.join(d, src))
        else:
            with open(os.path.join(d, src), "w") as f:
                f.write("int main(void) { return 0; }\n")
    with open(os.path.join(d, "CMakeLists.txt"), "w") as f:
        f.write("cmake_minimum_required(VERSION 3.20)\nproject(snippet C)\n" + b.body)
    flags = env.cflags + " -Wl,-rpath," + os.path.join(env.prefix, "lib")
    r = env.run(["cmake", "-S", d, "-B", os.path.join(d, "b"), "-DCMAKE_PREFIX_PATH=" + env.prefix,
                 "-DCMAKE_C_FLAGS=" + env.cflags, "-DCMAKE_EXE_LINKER_FLAGS=" + flags], wd)
    if r.returncode == 0:
        r = env.run(["cmake", "--build", os.path.join(d, "b")], wd)
    return None if r.returncode == 0 else "does not configure and build:\n" + r.stdout


CHECKS = {"cmake": check_cmake, "c": check_c, "sh": check_sh, "bash": check_sh, "shell": check_sh,
          "console": check_console, "json": check_json, "ini": check_ini, "csv": check_csv,
          "sql": check_sql}


def load_skips(path):
    skips = {}
    if os.path.exists(path):
        for l in open(path, encoding="utf-8"):
            if l.strip() and not l.startswith("#"):
                f, first, reason = l.rstrip("\n").split("\t", 2)
                skips[(f, first)] = reason
    return skips


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--cflags", default="")
    ap.add_argument("--list", action="store_true", help="list the blocks and how each is checked")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    src = os.path.abspath(a.src)
    files = a.files or (["README.md", "examples/minisvc/README.md"] +
                        sorted("docs/" + f for f in os.listdir(os.path.join(src, "docs"))
                               if f.endswith(".md")))
    skips = load_skips(os.path.join(src, "tests", "docs", "skips.txt"))
    blocks = []
    for rel in files:
        blocks += blocks_of(os.path.join(src, rel), rel)
    if a.list:
        for b in blocks:
            print("%s:%d\t%s\t%s" % (b.path, b.line, b.lang or "-", " ".join(b.words)))
        return 0
    env = Env(src, a.build, a.cflags)
    failed = counted = 0
    stats = {}
    doc = None
    try:
        for b in blocks:
            if b.path != doc:
                env.stop_groups()
                doc = b.path
            where = "%s:%d (%s)" % (b.path, b.line, b.lang or "no language")
            first = b.body.split("\n", 1)[0].strip()
            msg = None
            how = b.lang
            if b.words and b.words[0] == "skip":
                if len(b.words) < 2:
                    msg = "`skip` needs a reason"
                else:
                    print("skip: %s: %s" % (where, " ".join(b.words[1:])))
                    stats["skipped"] = stats.get("skipped", 0) + 1
                    continue
            elif any(f == b.path and first.startswith(pre) for f, pre in skips):
                reason = next(r for (f, pre), r in skips.items() if f == b.path and first.startswith(pre))
                print("skip: %s: %s (tests/docs/skips.txt)" % (where, reason))
                stats["skipped"] = stats.get("skipped", 0) + 1
                continue
            wd = env.workdir(b.path)
            if msg is None and b.setup.strip():
                r = env.run(["bash", "-e", "-o", "pipefail", "-c", b.setup], wd)
                if r.returncode:
                    msg = "set-up failed:\n" + r.stdout
            if msg is None:
                if b.lang in DATA_LANGS:
                    how = "data"
                    if b.opt("file"):
                        with open(os.path.join(wd, b.opt("file")), "w") as f:
                            f.write(b.body)
                elif b.lang in CHECKS:
                    if b.opt("file") and b.lang not in ("c", "ini", "csv"):
                        with open(os.path.join(wd, b.opt("file")), "w") as f:
                            f.write(b.body)
                    try:
                        msg = CHECKS[b.lang](env, b, wd)
                    except subprocess.TimeoutExpired:
                        msg = "timed out after %d s" % TIMEOUT
                elif not b.lang:
                    msg = "no language: name one (c, sh, console, json, ini, csv, sql, text, ...)"
                else:
                    msg = "unknown language '%s'" % b.lang
            counted += 1
            if msg:
                failed += 1
                lines = msg.split("\n")
                if len(lines) > 40:
                    lines = lines[:5] + ["[...]"] + lines[-30:]
                print("FAIL: %s: %s" % (where, "\n".join(lines)))
            else:
                stats[how] = stats.get(how, 0) + 1
                print("ok: %s" % where)
    finally:
        env.stop_groups()
        if not os.environ.get("KEEP"):
            shutil.rmtree(env.tmp, ignore_errors=True)
        else:
            print("kept " + env.tmp)
    print("blocks: %d checked, %d failed; %s" % (counted, failed,
          ", ".join("%s %d" % kv for kv in sorted(stats.items()))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
