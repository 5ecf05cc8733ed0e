"""What the docs tests share: failures, fenced blocks, output matching."""
import re

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def blocks(path):
    """The fenced blocks of a Markdown file: (info, text, line). A block
    indented in a list item has its indentation removed."""
    out, cur, indent = [], None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            stripped = line.lstrip(" ")
            if stripped.startswith("```"):
                if cur is None:
                    indent = len(line) - len(stripped)
                    cur = (stripped[3:].strip(), [], n)
                else:
                    out.append((cur[0], "".join(cur[1]), cur[2]))
                    cur = None
            elif cur is not None:
                lead = len(line) - len(stripped)
                cur[1].append(line[min(lead, indent):])
    if cur is not None:
        fail("%s:%d: unterminated code block" % (path, cur[2]))
    return out


def matches(expected, actual):
    """Line by line; '...' in an expected line matches any text."""
    exp = expected.splitlines()
    act = actual.splitlines()
    for i in range(max(len(exp), len(act))):
        e = exp[i] if i < len(exp) else None
        a = act[i] if i < len(act) else None
        if e is None or a is None:
            return "line %d: expected %r, got %r" % (i + 1, e, a)
        if "..." in e:
            pat = ".*".join(re.escape(p) for p in e.split("..."))
            if re.fullmatch(pat, a, re.S) is None:
                return "line %d: expected %r, got %r" % (i + 1, e, a)
        elif e != a:
            return "line %d: expected %r, got %r" % (i + 1, e, a)
    return None
