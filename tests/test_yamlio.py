"""YAML 1.2 reading and meaning-preserving writing."""

import yaml

from helpers import yamlio

TRAPS = """\
switch: on
answer: yes
mode: 0777
hexa: 0x1F
octal12: 0o17
date: 2021-01-29
merge: <<
under: 1_000
sci: 1e3
plain_int: 42
neg: -7
flt: 3.50
inf: .inf
tilde: ~
empty:
bool: True
quoted_int: "42"
quoted_on: 'on'
"""


def test_yaml11_traps_stay_strings_under_yaml12():
    doc = yamlio.load(TRAPS)
    assert doc["switch"] == "on" and doc["answer"] == "yes"
    assert doc["date"] == "2021-01-29" and doc["merge"] == "<<" and doc["under"] == "1_000"
    assert doc["hexa"] == 31 and doc["octal12"] == 15 and doc["plain_int"] == 42 and doc["neg"] == -7
    assert doc["sci"] == 1000.0 and doc["flt"] == 3.5 and doc["inf"] == float("inf")
    assert doc["tilde"] is None and doc["empty"] is None and doc["bool"] is True
    assert doc["quoted_int"] == "42" and doc["quoted_on"] == "on"


def test_dump_keeps_meaning_for_yaml11_and_yaml12_readers():
    doc = yamlio.load(TRAPS)
    text = yamlio.dump(doc)
    # A YAML 1.2 reader gets the same values back ...
    assert yamlio.load(text) == doc
    # ... and so does PyYAML's YAML 1.1 reader, for every value that was a string.
    as_yaml11 = yaml.safe_load(text)
    for key, value in doc.items():
        if isinstance(value, str):
            assert as_yaml11[key] == value, key
    # Numbers keep the text they were written as.
    for key in ("mode", "hexa", "octal12", "sci", "flt", "inf"):
        line = next(line for line in text.splitlines() if line.startswith(key + ":"))
        assert line == next(line for line in TRAPS.splitlines() if line.startswith(key + ":")), key


def test_no_anchors_no_aliases_no_folding():
    shared = {"a": 1}
    long_value = "x " * 300
    text = yamlio.dump({"one": shared, "two": shared, "long": long_value})
    assert "&" not in text and "*" not in text
    long_line = next(line for line in text.splitlines() if line.startswith("long:"))
    assert yamlio.load(long_line)["long"] == long_value  # the whole value on one line
    assert yamlio.load(text)["two"] == shared


def test_multiline_strings_become_literal_blocks():
    text = yamlio.dump({"script": "line one\nline two\n"})
    assert text.startswith("script: |\n")
    assert yamlio.load(text)["script"] == "line one\nline two\n"
