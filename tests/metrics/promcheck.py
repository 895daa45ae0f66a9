#!/usr/bin/env python3
"""Check Prometheus text expositions (format 0.0.4) of tokensmith's processes.

usage:
  promcheck.py lint FILE...             every FILE parses with prometheus_client's parser and
                                        follows the conventions of docs/operations.md, "Metrics"
  promcheck.py delta BEFORE AFTER SPEC  the changes from BEFORE to AFTER are those SPEC lists
  promcheck.py value FILE SERIES        print one sample's value
  promcheck.py forbid FILE WORD...      no WORD (a token, a subject, ...) appears in FILE
  promcheck.py rules DOC FILE...        the Prometheus rule files among DOC's yaml blocks load,
                                        and every series their expressions select (name and
                                        label="value" matchers) exists in one of the FILEs

The parser is the Prometheus Python client's (text_string_to_metric_families), the one many
exporters are tested with; on top of it `lint` applies the text format's rules that parser lets
through (a family's lines together, one TYPE and HELP before its samples, no series twice,
cumulative histogram buckets ending in +Inf equal to _count) and the project's conventions
(names start with tokensmith_, counters end in _total, durations in _seconds, label values
from fixed sets: no value longer than 64 bytes).

SPEC lines (delta): `SERIES OP N` with OP one of = >= (the change of one sample, e.g.
tokensmith_grants_total{grant="bootstrap",result="ok"} = 1), or `only FAMILY`: every sample of
FAMILY that no line names must not change. '#' starts a comment.
"""
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the caller checks first and skips
    sys.exit("promcheck: python3-prometheus-client is not installed")

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
# Families of libraries that tokensmith embeds under their own documented names.
FOREIGN_PREFIXES = ("authz_",)
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def key(name, labels):
    return name + "{" + ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + "}"


def samples(text):
    """{series key: value} through the real parser."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            k = key(s.name, s.labels)
            if k in out:
                raise ValueError("series twice: " + k)
            out[k] = s.value
    return out


def family_of(sample_name, families):
    if sample_name in families:
        return sample_name
    for suf in SUFFIXES:
        if sample_name.endswith(suf) and sample_name[: -len(suf)] in families:
            return sample_name[: -len(suf)]
    return None


def lint(path):
    errs = []
    text = open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        errs.append("does not end with a newline")
    try:
        samples(text)
    except Exception as e:  # the parser's own refusal
        return ["prometheus_client refuses it: %s" % e]
    types, helps, done, series = {}, set(), set(), set()
    current = None
    hist = {}
    for no, line in enumerate(text.splitlines(), 1):
        where = "%s:%d" % (path, no)
        if not line:
            errs.append(where + ": empty line")
            continue
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)$", line)
            if not m:
                continue
            kind, name, rest = m.groups()
            if not NAME.match(name):
                errs.append("%s: bad metric name %r" % (where, name))
            if name in done:
                errs.append("%s: %s %s after its samples or another family" % (where, kind, name))
            if kind == "TYPE":
                if name in types:
                    errs.append("%s: second TYPE for %s" % (where, name))
                if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    errs.append("%s: unknown type %r" % (where, rest))
                types[name] = rest
            else:
                if name in helps:
                    errs.append("%s: second HELP for %s" % (where, name))
                if not rest:
                    errs.append("%s: empty HELP for %s" % (where, name))
                helps.add(name)
            if current and current != name:
                done.add(current)
            current = name
            continue
        m = re.match(r"([^{\s]+)(?:\{(.*)\})? (\S+)$", line)
        if not m:
            errs.append("%s: not a sample line" % where)
            continue
        sname, lab, value = m.groups()
        fam = family_of(sname, types)
        if fam is None:
            errs.append("%s: %s has no TYPE line before it" % (where, sname))
            continue
        if fam != current:
            errs.append("%s: %s is apart from the rest of its family" % (where, sname))
        labels = {}
        for lm in re.finditer(r'([^=,]+)="((?:[^"\\]|\\.)*)"', lab or ""):
            ln, lv = lm.groups()
            if not LABEL.match(ln) or ln in labels:
                errs.append("%s: bad or repeated label %r" % (where, ln))
            if len(lv) > 64:
                errs.append("%s: label %s has an unbounded-looking value (%d bytes)"
                            % (where, ln, len(lv)))
            labels[ln] = lv
        k = key(sname, labels)
        if k in series:
            errs.append("%s: series twice: %s" % (where, k))
        series.add(k)
        v = float(value)
        t = types[fam]
        if not fam.startswith(FOREIGN_PREFIXES):
            if not fam.startswith("tokensmith_"):
                errs.append("%s: %s lacks the tokensmith_ prefix" % (where, fam))
            if t == "counter" and not fam.endswith("_total"):
                errs.append("%s: counter %s does not end in _total" % (where, fam))
            if "duration" in fam and not fam.endswith("_seconds"):
                errs.append("%s: duration %s is not in _seconds" % (where, fam))
        if t == "counter" and (v < 0 or math.isnan(v)):
            errs.append("%s: counter below zero" % where)
        if t == "histogram":
            rest = {x: labels[x] for x in labels if x != "le"}
            h = hist.setdefault(key(fam, rest), {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                le = labels.get("le")
                if le is None:
                    errs.append("%s: bucket without le" % where)
                else:
                    h["buckets"].append((float(le), v, where))
            elif sname.endswith("_sum"):
                h["sum"] = v
            elif sname.endswith("_count"):
                h["count"] = v
    for name, h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != math.inf:
            errs.append("%s: histogram %s does not end with le=\"+Inf\"" % (path, name))
            continue
        for (le1, c1, _), (le2, c2, w2) in zip(b, b[1:]):
            if le2 <= le1:
                errs.append("%s: bucket bounds not ascending" % w2)
            if c2 < c1:
                errs.append("%s: buckets not cumulative" % w2)
        if h["count"] != b[-1][1]:
            errs.append("%s: histogram %s: _count %s != +Inf bucket %s"
                        % (path, name, h["count"], b[-1][1]))
        if h["sum"] is None:
            errs.append("%s: histogram %s has no _sum" % (path, name))
    for name in types:
        if name not in helps:
            errs.append("%s: %s has no HELP" % (path, name))
    return errs


def parse_series(s):
    m = re.match(r"([^{\s]+)(?:\{(.*)\})?$", s)
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
    return key(m.group(1), labels)


def delta(before_path, after_path, spec_path):
    a = samples(open(before_path, encoding="utf-8").read())
    b = samples(open(after_path, encoding="utf-8").read())
    errs, named, only = [], set(), []
    for line in open(spec_path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("only "):
            only.append(line[5:].strip())
            continue
        m = re.match(r"(\S+)\s+(=|>=)\s+(\S+)$", line)
        if not m:
            errs.append("bad spec line: " + line)
            continue
        k = parse_series(m.group(1))
        named.add(k)
        if k not in b:
            errs.append("%s: missing after" % k)
            continue
        d = b[k] - a.get(k, 0)
        want = float(m.group(3))
        if (m.group(2) == "=" and d != want) or (m.group(2) == ">=" and d < want):
            errs.append("%s moved by %g, want %s %g" % (k, d, m.group(2), want))
        else:
            print("ok: %s moved by %g" % (k, d))
    for fam in only:
        for k in b:
            if k.startswith(fam + "{") and k not in named and b[k] != a.get(k, 0):
                errs.append("%s moved by %g, want 0" % (k, b[k] - a.get(k, 0)))
    return errs


def rules(doc, paths):
    import yaml  # python3-yaml
    have, declared = {}, set()
    for p in paths:
        text = open(p, encoding="utf-8").read()
        have.update(samples(text))
        # A family declared without samples (a gauge of something not configured here, such
        # as the TLS certificate's expiry without TLS) is known; a rule that names only the
        # family is satisfied by it.
        declared.update(re.findall(r"^# TYPE (\S+) ", text, re.M))
    errs, n = [], 0
    for block in re.findall(r"```yaml\n(.*?)```", open(doc, encoding="utf-8").read(), re.S):
        d = yaml.safe_load(block)
        if not isinstance(d, dict) or "groups" not in d:
            continue
        for g in d["groups"]:
            for r in g["rules"]:
                n += 1
                for name, sel in re.findall(r"(tokensmith_[a-z_]+)(\{[^}]*\})?", r["expr"]):
                    want = dict(re.findall(r'([a-z_]+)="([^"]*)"', sel or ""))
                    found = (not want and name in declared) or any(
                        k.split("{")[0] == name
                        and all(('%s="%s"' % (l, v)) in k for l, v in want.items())
                        for k in have)
                    if not found:
                        errs.append("rule %s: no series %s%s" % (r.get("alert"), name, sel))
    if n == 0:
        errs.append("%s: no Prometheus rules found" % doc)
    else:
        print("ok: %d rules of %s select existing series" % (n, doc))
    return errs


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "lint":
        errs = []
        for p in argv[2:]:
            e = lint(p)
            errs += e
            if not e:
                print("ok: %s: parsed, %d families" % (
                    p, len(list(text_string_to_metric_families(open(p).read())))))
    elif cmd == "delta":
        errs = delta(argv[2], argv[3], argv[4])
    elif cmd == "value":
        v = samples(open(argv[2], encoding="utf-8").read()).get(parse_series(argv[3]))
        if v is None:
            sys.exit("no sample " + argv[3])
        print("%.17g" % v)
        return 0
    elif cmd == "rules":
        errs = rules(argv[2], argv[3:])
    elif cmd == "forbid":
        text = open(argv[2], encoding="utf-8").read()
        errs = ["%s: contains %r" % (argv[2], w[:12] + "...") for w in argv[3:] if w and w in text]
    else:
        sys.exit(__doc__)
    for e in errs:
        print("FAIL: " + e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
