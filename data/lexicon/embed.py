#!/usr/bin/env python3
"""Compiles the word lists in this directory into src/services/ai/patient_lexicon_data.c.

Run it after editing a list: python3 data/lexicon/embed.py (from anywhere). Blank lines and
# comments are dropped; every other line becomes one C string, so no literal gets long. The unit
test tests/unit/ai/patient.c fails when the generated file and the lists disagree."""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent.parent / "src" / "services" / "ai" / "patient_lexicon_data.c"


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    files = sorted(p for p in HERE.glob("*.txt"))
    out = [
        "/* Generated from data/lexicon/ by data/lexicon/embed.py. Do not edit. */",
        '#include "services/ai/patient_lexicon.h"',
        "",
        "/* One list line a string, however long (make fmt must not cut them). */",
        "// clang-format off",
    ]
    names = []
    for p in files:
        ident = p.stem.replace("-", "_") + "_lines"
        lines = [l.strip() for l in p.read_text(encoding="utf-8").splitlines()]
        lines = [l for l in lines if l and not l.startswith("#")]
        out.append("static const char *const %s[] = {" % ident)
        out.extend("    %s," % c_string(l) for l in lines)
        out.append("};")
        out.append("")
        names.append((p.name, ident, len(lines)))
    out.append("// clang-format on")
    out.append("const patient_lexicon_list patient_lexicon_lists[] = {")
    for name, ident, n in names:
        out.append("    {%s, %s, %d}," % (c_string(name), ident, n))
    out.append("};")
    out.append("const size_t patient_lexicon_nlists = %d;" % len(names))
    OUT.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
