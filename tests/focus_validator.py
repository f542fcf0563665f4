"""The FinOps Foundation's ``focus-validator``, installed beside the project and run on a file.

Why a separate venv (``.venv-focus``): the validator pins ``numpy<2`` and needs ``pyarrow<23``,
which must not downgrade the app's own packages. Its 2.x releases declare Python >= 3.12, yet on
3.11 only one f-string (a backslash inside its braces) in
``focus_validator/config_objects/focus_to_duckdb_converter.py`` needs 3.12: the installer
rewrites that line to the equivalent concatenation and checks the module then compiles.

Running it: ``--block-download`` (its bundled FOCUS 1.2 rules; it must not reach the network),
from its package's ``site-packages`` (it opens its currency list by a relative path), with
``--output-type unittest``: it exits 0 whatever it finds, so the verdict is read from the XML.

``python tests/focus_validator.py install`` prepares it (the Makefile's ``.venv-focus`` target;
idempotent and quick when done); ``python tests/focus_validator.py FILE.csv`` validates a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("FINOPS_FOCUS_VENV", ROOT / ".venv-focus"))
MARKER = VENV / ".installed"
PACKAGE = "focus-validator==2.2.1"
REQUIREMENTS = (PACKAGE, "pyarrow<23")
PATCHED = Path("focus_validator/config_objects/focus_to_duckdb_converter.py")
OLD_LINE = """f"'{k.replace('\\"', '\\"\\"')}'" for k in ignore_keys"""
NEW_LINE = """"'" + k.replace('"', '""') + "'" for k in ignore_keys"""

# What is true of Anthropic's billing (the validator checks the rules conditional on these only
# when told): display names for accounts, workspaces as sub accounts, Console and Enterprise
# account types, a public price list with unit prices, measured usage, tags (allocations).
APPLICABILITY = (
    "ACCOUNT_NAMING_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "MULTIPLE_BILLING_ACCOUNT_TYPES_SUPPORTED",
    "PUBLIC_PRICE_LIST_SUPPORTED",
    "UNIT_PRICING_SUPPORTED",
    "USAGE_MEASUREMENT_SUPPORTED",
    "TAGGING_SUPPORTED",
)


class NotInstalled(RuntimeError):
    """The validator is not installed (and why)."""


def _python() -> Path:
    return VENV / "bin" / "python"


def site_packages() -> Path:
    """The validator venv's site-packages."""
    out = subprocess.run(
        [str(_python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def _patch(site: Path) -> None:
    """Rewrite the one 3.12-only f-string, then prove the module compiles on this Python."""
    target = site / PATCHED
    text = target.read_text(encoding="utf-8")
    if OLD_LINE in text:
        target.write_text(text.replace(OLD_LINE, NEW_LINE), encoding="utf-8")
    check = subprocess.run(
        [str(_python()), "-m", "py_compile", str(target)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise NotInstalled(
            f"{target} does not compile on Python {sys.version.split()[0]} after the rewrite "
            f"(a new release changed it?): {check.stderr.strip()}"
        )


def install() -> None:
    """Create ``.venv-focus`` with the validator (nothing to do when it is there)."""
    if MARKER.exists() and MARKER.read_text(encoding="utf-8").strip() == PACKAGE:
        MARKER.touch()  # newer than this script: make sees it done
        return
    if not _python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(_python()), "-m", "pip", "install", "--quiet", "--ignore-requires-python"]
    result = subprocess.run([*pip, *REQUIREMENTS], capture_output=True, text=True)
    if result.returncode != 0:
        raise NotInstalled(f"pip could not install {PACKAGE}: {result.stderr.strip()[-2000:]}")
    _patch(site_packages())
    MARKER.write_text(f"{PACKAGE}\n", encoding="utf-8")


def executable() -> Path:
    """The validator's command, or ``NotInstalled`` saying how to get it."""
    command = VENV / "bin" / "focus-validator"
    if not MARKER.exists() or not command.exists():
        raise NotInstalled(
            f"focus-validator is not installed in {VENV}: run `make .venv-focus/.installed` "
            "(or `python tests/focus_validator.py install`; it needs PyPI)"
        )
    return command


@dataclass
class Verdict:
    """What the validator said of a file.

    Its report lists every rule that did not hold, including one alternative of an OR rule
    whose other alternative held (InvoiceId "MUST be null when there is no invoice" OR "MUST
    NOT be null when there is one": one of the two always fails). ``failures`` leaves out
    such alternatives of an OR rule that passed, reading the OR rules from the validator's
    own rule model; everything else it reported is a failure."""

    tests: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # rule id -> its report line
    skipped: int = 0
    keywords: dict[str, str] = field(default_factory=dict)  # rule id -> MUST, SHOULD, ...
    alternatives: dict[str, set[str]] = field(default_factory=dict)  # rule id -> OR rules

    def excused(self, rule: str) -> bool:
        """An alternative of an OR rule that passed."""
        return any(parent not in self.failed for parent in self.alternatives.get(rule, ()))

    def failures(self) -> list[str]:
        """The report lines of the rules that failed, less excused OR alternatives."""
        return [line for rule, line in self.failed.items() if not self.excused(rule)]

    def failed_must(self) -> list[str]:
        """``failures`` whose keyword is MUST or MUST NOT."""
        return [
            line
            for rule, line in self.failed.items()
            if not self.excused(rule) and self.keywords.get(rule, "MUST").startswith("MUST")
        ]


def _rule_model(site: Path, version: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Each rule's keyword, and the OR rules each rule is an alternative of, from the
    validator's bundled model of ``version``."""
    keywords: dict[str, str] = {}
    alternatives: dict[str, set[str]] = {}
    for path in sorted((site / "focus_validator" / "rules").glob(f"model-{version}*.json")):
        rules = json.loads(path.read_text(encoding="utf-8")).get("ModelRules", {})
        for rule_id, rule in rules.items():
            criteria = rule.get("ValidationCriteria", {})
            keywords[rule_id] = criteria.get("Keyword", "")
            stack = [criteria.get("Requirement") or {}]
            while stack:
                node = stack.pop()
                items = node.get("Items") or []
                if node.get("CheckFunction") == "OR":
                    for item in items:
                        if item.get("CheckFunction") == "CheckModelRule":
                            alternatives.setdefault(item["ModelRuleId"], set()).add(rule_id)
                stack.extend(i for i in items if isinstance(i, dict))
    return keywords, alternatives


def _verdict(xml_path: Path, site: Path, version: str) -> Verdict:
    keywords, alternatives = _rule_model(site, version)
    verdict = Verdict(keywords=keywords, alternatives=alternatives)
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        verdict.tests += 1
        name = case.get("name", "")
        rule = name.split(" :: ")[0].strip()
        for problem in (*case.findall("failure"), *case.findall("error")):
            message = problem.get("message") or (problem.text or "")
            verdict.failed[rule] = f"{name}: {message.strip()}"[:500]
        if case.find("skipped") is not None:
            verdict.skipped += 1
    return verdict


def validate(
    csv_path: Path, *, version: str = "1.2", applicability: tuple[str, ...] = APPLICABILITY
) -> Verdict:
    """Run the validator on a FOCUS CSV and read its verdict from the unittest XML."""
    command = executable()
    site = site_packages()
    xml_path = csv_path.with_suffix(".validator.xml")
    args = [
        str(command),
        "--data-file",
        str(csv_path.resolve()),
        "--validate-version",
        version,
        "--block-download",
        "--output-type",
        "unittest",
        "--output-destination",
        str(xml_path.resolve()),
    ]
    if applicability:
        args += ["--applicability-criteria", ",".join(applicability)]
    run = subprocess.run(args, cwd=site, capture_output=True, text=True, timeout=600)
    if not xml_path.exists():
        raise RuntimeError(
            f"focus-validator wrote no report (exit {run.returncode}): "
            f"{(run.stderr or run.stdout).strip()[-3000:]}"
        )
    return _verdict(xml_path, site, version)


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        try:
            install()
        except (NotInstalled, subprocess.CalledProcessError) as exc:
            print(f"focus-validator: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"focus-validator ready in {VENV} ({sysconfig.get_python_version()})")
    elif len(sys.argv) == 2:
        result = validate(Path(sys.argv[1]))
        print(
            f"{result.tests} rules checked, {len(result.failed)} reported failed, "
            f"{len(result.failures())} once passed OR alternatives are left out"
        )
        for failure in result.failures():
            print(" ", failure)
        sys.exit(1 if result.failed_must() else 0)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
