"""Reading C headers for the public-surface tests: comments and literals blanked out, and the
functions a header marks TS_API."""
import re

_KEYWORDS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
             "const", "volatile", "struct", "union", "enum", "static", "inline", "extern",
             "sizeof", "return", "if", "while", "for", "switch", "__attribute__"}


def strip_comments(text, strings=True):
    """@p text with C comments (and, when @p strings, string and character literals) replaced by
    blanks; line breaks are kept, so that line numbers stay right."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif strings and text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(q + " " * (min(j, n) - i - 1) + q)
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def api_functions(text):
    """Names of the functions (and variables) declared with TS_API in header @p text."""
    t = strip_comments(text)
    # Preprocessor lines (with their continuations) hold macro definitions, not declarations.
    t = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", "", t, flags=re.M)
    names = set()
    for stmt in re.split(r"[;{}]", t):
        if not re.search(r"\bTS_API\b", stmt):
            continue
        calls = [m for m in re.findall(r"\b([A-Za-z_]\w*)\s*\(", stmt)
                 if m not in _KEYWORDS and not re.fullmatch(r"[A-Z0-9_]+", m)]
        if calls:
            names.add(calls[0])
            continue
        words = [w for w in re.findall(r"\b([A-Za-z_]\w*)\b", stmt.split("=")[0].split("[")[0])
                 if w not in _KEYWORDS and not re.fullmatch(r"[A-Z0-9_]+", w)]
        if words:
            names.add(words[-1])
    return names
