"""Runs every host's scenario driver on cases.txt and checks that they print the same
bytes; then checks that the comparison catches a difference (one host run on a cases
file with one text changed must fail it, naming that case).

    python compare.py CASES NAME=COMMAND...   (COMMAND gets the cases file appended)
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile


def run(command: str, cases: str) -> list[str]:
    out = subprocess.run([*shlex.split(command), cases], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def differences(outputs: dict[str, list[str]]) -> list[str]:
    """Where the outputs differ from the first host's: one message per differing line."""
    (ref_name, ref), *others = outputs.items()
    found = []
    for name, lines in others:
        if len(lines) != len(ref):
            found.append(f"{name} printed {len(lines)} lines, {ref_name} {len(ref)}")
        for a, b in zip(ref, lines):
            if a != b:
                found.append(f"{name} differs from {ref_name}:\n  {ref_name}: {a}\n  {name}: {b}")
    return found


def main(cases: str, hosts: dict[str, str]) -> int:
    outputs = {name: run(command, cases) for name, command in hosts.items()}
    bad = differences(outputs)
    for message in bad:
        print(message, file=sys.stderr)
    n = len(next(iter(outputs.values())))
    if bad:
        print(f"scenarios: hosts DIFFER ({len(bad)} differences)", file=sys.stderr)
        return 1
    if n == 0 or not all(line.startswith('{"case":') for line in next(iter(outputs.values()))):
        print("scenarios: no output to compare", file=sys.stderr)
        return 1
    # The comparison must catch a change: the last host on a cases file with the last
    # byte changed in the first text encoded as ordinary text.
    text = open(cases, encoding="utf-8").read().splitlines()
    i = next(k for k, line in enumerate(text) if line.startswith("encode none ") and not line.endswith(" -"))
    changed = text[i][:-2] + ("30" if text[i][-2:] != "30" else "31")
    case = next(line[5:] for line in reversed(text[:i]) if line.startswith("case "))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write("\n".join(text[:i] + [changed] + text[i + 1 :]) + "\n")
        f.flush()
        last = list(hosts)[-1]
        mutated = {**outputs, last: run(hosts[last], f.name)}
    caught = differences(mutated)
    if len(caught) != 1 or f'"case":"{case}"' not in caught[0]:
        print(f"scenarios: a changed case ({case}) was not caught as exactly one difference: {caught}",
              file=sys.stderr)
        return 1
    print(f"scenarios: {n} operations, identical output from {', '.join(outputs)}; "
          f"a changed text in case {case!r} is caught")
    return 0


if __name__ == "__main__":
    cases_file, *specs = sys.argv[1:]
    sys.exit(main(cases_file, dict(spec.split("=", 1) for spec in specs)))
