"""The figures of .ci/contract.sh's summary lines, read from the tools' own output.

    contract_figures.py schemathesis REPORT.ndjson OUTPUT.txt
    contract_figures.py spectral SPECTRAL.json
    contract_figures.py operations OPENAPI.json
    contract_figures.py typed OPENAPI.json GENERATED.ts
    contract_figures.py docs DOM.html OPENAPI.json

Each prints one line; a failed check still gets its figures, and the word FAILED where
something other than the tool's exit code says so.
"""

import html
import json
import re
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(document_path):
    """(method, path, operationId) of every operation the document has."""
    with open(document_path, encoding="utf-8") as file:
        document = json.load(file)
    return [
        (method, path, operation.get("operationId"))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def schemathesis(report_path, output_path):
    with open(output_path, encoding="utf-8", errors="replace") as file:
        output = file.read()
    generated = re.search(r"^\s*(\d+) generated", output, re.MULTILINE)
    if generated is None:
        return "FAILED: no test case count in the output"
    cases = int(generated.group(1))
    # "❌ ST108 Response violates schema: 3" in the Failures section.
    by_code = {}
    for code, count in re.findall(r"^\s*\S*\s*(ST\d{3})\b.*:\s*(\d+)\s*$", output, re.MULTILINE):
        by_code[code] = by_code.get(code, 0) + int(count)
    # Errors (a crash of the tool, a schema it cannot read, a network failure) are not failures but fail the run.
    errors = re.search(r"^Errors:\s*$", output, re.MULTILINE) is not None
    server_errors = by_code.get("ST101", 0) + by_code.get("ST102", 0)
    schema = sum(by_code.get(code, 0) for code in ("ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111"))
    undocumented = by_code.get("ST103", 0)
    failures = sum(by_code.values())
    operations_tested = re.search(r"Tested:\s*(\d+)", output)
    # The NDJSON report holds one ScenarioFinished per test scenario; its count is a cross-check that the run happened.
    scenarios = 0
    with open(report_path, encoding="utf-8") as file:
        for line in file:
            if line.startswith('{"ScenarioFinished"'):
                scenarios += 1
    line = (
        f"{cases:,} cases over {operations_tested.group(1) if operations_tested else '?'} operations "
        f"({scenarios} scenarios), {failures} failures "
        f"({server_errors} server errors, {schema} schema violations, {undocumented} undocumented statuses"
    )
    others = {code: n for code, n in sorted(by_code.items()) if code not in ("ST101", "ST102", "ST103")
              and code not in ("ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111")}
    if others:
        line += ", " + ", ".join(f"{n} {code}" for code, n in others.items())
    line += ")"
    if failures or errors or scenarios == 0:
        line = "FAILED: " + line + (", and errors" if errors else "")
    return line


def spectral(report_path):
    with open(report_path, encoding="utf-8") as file:
        results = json.load(file)
    # Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
    count = [sum(1 for result in results if result.get("severity") == level) for level in range(4)]
    return f"{count[0]} errors, {count[1]} warnings"


def typed(document_path, generated_path):
    """How many of the document's operations the generated `operations` interface names."""
    with open(generated_path, encoding="utf-8") as file:
        generated = file.read()
    start = generated.find("export interface operations {")
    if start < 0:
        return "0"
    body = generated[start:]
    names = set(re.findall(r"^    ([A-Za-z_][A-Za-z0-9_]*): \{$", body, re.MULTILINE))
    return str(sum(1 for _, _, operation_id in operations(document_path) if operation_id in names))


def docs(dom_path, document_path):
    """How many of the document's operations the rendered Swagger UI shows as operation blocks."""
    with open(dom_path, encoding="utf-8", errors="replace") as file:
        dom = file.read()
    # Swagger UI renders each operation as <div class="opblock opblock-get ..." id="operations-<tag>-<operationId>">.
    rendered = set(re.findall(r'id="operations-[^"]*?-([A-Za-z0-9_]+)"', dom))
    paths = {html.unescape(p) for p in re.findall(r'data-path="([^"]*)"', dom)}
    count = sum(
        1 for _, path, operation_id in operations(document_path) if operation_id in rendered and path in paths
    )
    return str(count)


def main(argv):
    command, *args = argv
    if command == "schemathesis":
        print(schemathesis(*args))
    elif command == "spectral":
        print(spectral(*args))
    elif command == "operations":
        print(len(operations(*args)))
    elif command == "typed":
        print(typed(*args))
    elif command == "docs":
        print(docs(*args))
    else:
        raise SystemExit(f"unknown figure {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
