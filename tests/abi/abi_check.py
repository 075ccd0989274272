#!/usr/bin/python3
"""The ABI check (make abi-check): compares a library against the baseline
made by abidw for the first stable release with libabigail's abidiff, and
fails on any change a client built against the baseline could notice.

  abi_check.py BASELINE.abi LIBRARY HEADERS_DIR HEADER

Compatible, and so accepted:
  - added functions and variables (new symbols of a newer version node);
  - fields appended to a struct whose first member is `size_t struct_size`
    (an old client passes the old size and the library reads only that much:
    the size grows, every insertion is at or past the old end);
  - enumerators added to an enum.
Everything else abidiff reports fails the check with abidiff's report: a
removed or changed symbol, a reordered, removed, resized or retyped field, a
struct without struct_size that grows, a changed enumerator value.

abidiff's own suppressions cannot express this (its has_data_member_inserted_at
also hides a reordering when a field is appended), so the check reads
abidiff's leaf-change report (-l) and classifies each changed type itself.
"""
import re
import subprocess
import sys

SIZE_GREW = re.compile(r"^type size changed from (\d+) to (\d+) \(in bits\)$")
INSERTIONS = re.compile(r"^\d+ data member insertions?:$")
INSERTED = re.compile(r"^'.*', at offset (\d+) \(in bits\)( at \S+)?$")
ENUM_INSERTIONS = re.compile(r"^\d+ enumerator insertions?:$")
ENUM_INSERTED = re.compile(r"^'.*' value '-?\d+'$")
CHANGED_TYPE = re.compile(r"^'(struct|enum) ([A-Za-z_][A-Za-z0-9_]*)( at \S+)?' changed:$")  # at FILE:LINE:COL


def struct_size_structs(header):
    """Names of the structs of the header whose first member is size_t struct_size."""
    text = open(header, encoding="utf-8").read()
    return set(re.findall(r"typedef\s+struct\s+(\w+)\s*\{\s*size_t\s+struct_size\s*;", text))


def type_blocks(report):
    """(kind, name, lines) per changed type of a leaf report; (None, header line, lines) for anything else."""
    blocks, current = [], None
    for line in report.splitlines():
        if not line.strip() or re.match(r"^(Leaf changes summary|Changed leaf types summary|Removed/Changed/Added)",
                                        line):
            continue
        if not line.startswith(" "):  # a new artefact
            match = CHANGED_TYPE.match(line)
            current = (match.group(1), match.group(2), []) if match else (None, line, [])
            blocks.append(current)
        elif current is not None:
            current[2].append(line.strip())
        else:
            blocks.append((None, line, []))
    return blocks


def incompatible_reason(kind, name, lines, extensible):
    """None when the change is compatible, else why not."""
    if kind == "struct":
        if name not in extensible:
            return f"struct {name} changed and has no struct_size to grow by"
        old_end, refused = None, []
        for line in lines:
            grew = SIZE_GREW.match(line)
            if grew and int(grew.group(2)) > int(grew.group(1)):
                old_end = int(grew.group(1))
            elif INSERTIONS.match(line):
                continue
            elif (inserted := INSERTED.match(line)) and old_end is not None and int(inserted.group(1)) >= old_end:
                continue
            elif line not in ("type size hasn't changed", "there are data member changes:"):
                refused.append(line)
        if refused:
            return f"struct {name}: " + "; ".join(refused)
        return None if old_end is not None else f"struct {name} changed without growing"
    if kind == "enum":
        for line in lines:
            if line != "type size hasn't changed" and not ENUM_INSERTIONS.match(line) and not ENUM_INSERTED.match(line):
                return f"enum {name}: {line}"
        return None
    return name  # a removed or changed function or variable, or a change abidiff did not attach to a type


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    baseline, library, headers_dir, header = argv[1:]
    command = ["abidiff", "--leaf-changes-only", "--no-added-syms", "--headers-dir2",
               headers_dir, baseline, library]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        print("abi-check: abidiff is missing: `make deps` installs abigail-tools", file=sys.stderr)
        return 2
    if done.returncode & 1:  # abidiff's own error bit
        print(f"abi-check: abidiff failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
        return 2
    if done.returncode == 0:
        print(f"abi-check: {library} is ABI-compatible with {baseline} (nothing changed)")
        return 0
    extensible = struct_size_structs(header)
    reasons = [] if not done.returncode & 8 else ["abidiff reports an incompatible change (removed symbol)"]
    for kind, name, lines in type_blocks(done.stdout):
        reason = incompatible_reason(kind, name, lines, extensible)
        if reason:
            reasons.append(reason)
    print(done.stdout)
    if reasons:
        print("abi-check: FAIL: incompatible with the baseline:", file=sys.stderr)
        for reason in reasons:
            print("  - " + reason, file=sys.stderr)
        return 1
    print(f"abi-check: {library} is ABI-compatible with {baseline} (only compatible additions above)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
