#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint and `sam validate --lint` do not make (measured: they
let a bad runtime name, an invalid cron expression and an unknown !Ref through).

usage: check_template.py TEMPLATE WORKSPACE_ROOT   (exit 0 when every check holds)
"""
import re
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import decode

PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix", "AWS::NoValue"}
RUNTIMES = {"provided.al2023"}
CRON_FIELD = r"[0-9A-Z*?/,#L\-]+"
CRON = re.compile(rf"^cron\(({CRON_FIELD} ){{5}}{CRON_FIELD}\)$")
RATE = re.compile(r"^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$")
# Statements allowed to name "*" as resource, each for a stated reason in the template.
STAR_ALLOWED = {"AccountAdministers", "TlsOnly"}


def refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    found.add(name.split(".")[0])
            refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def cron_ok(expr: str) -> bool:
    if RATE.match(expr):
        return True
    if not CRON.match(expr):
        return False
    minute, hour, dom, month, dow, _year = expr[5:-1].split(" ")
    if (dom == "?") == (dow == "?"):
        return False  # exactly one of day-of-month and day-of-week must be '?'
    for value, top in ((minute, 59), (hour, 23)):
        for part in re.split(r"[,/\-]", value):
            if part.isdigit() and int(part) > top:
                return False
    return True


def main(template: str, root: str) -> int:
    tpl, errors = decode(template)
    if errors:
        for e in errors:
            print(f"cannot read the template: {e}")
        return 1
    problems = []
    resources = tpl.get("Resources", {})
    known = set(resources) | set(tpl.get("Parameters", {})) | PSEUDO
    found = set()
    refs(resources, found)
    refs(tpl.get("Outputs", {}), found)
    refs(tpl.get("Globals", {}), found)
    for name in sorted(found - known):
        problems.append(f"reference to an unknown resource or parameter: {name}")

    binaries = set()
    for manifest in Path(root, "functions").glob("*/Cargo.toml"):
        data = tomllib.loads(manifest.read_text())
        for b in data.get("bin", []):
            binaries.add(b["name"])
    glob = tpl.get("Globals", {}).get("Function", {})
    timeouts = {}
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            runtime = props.get("Runtime", glob.get("Runtime"))
            if runtime not in RUNTIMES:
                problems.append(f"{name}: runtime {runtime!r} is not one of {sorted(RUNTIMES)}")
            if props.get("Architectures", glob.get("Architectures")) != ["arm64"]:
                problems.append(f"{name}: not arm64")
            meta = res.get("Metadata", {})
            if meta.get("BuildMethod") != "rust-cargolambda":
                problems.append(f"{name}: BuildMethod must be rust-cargolambda")
            binary = meta.get("BuildProperties", {}).get("Binary")
            if binary not in binaries:
                problems.append(f"{name}: binary {binary!r} is not a binary of functions/ ({sorted(binaries)})")
            if "Timeout" not in props:
                problems.append(f"{name}: no Timeout")
            timeouts[name] = props.get("Timeout", 3)
            for ev_name, ev in props.get("Events", {}).items():
                expr = ev.get("Properties", {}).get("ScheduleExpression")
                if expr is not None and not cron_ok(expr):
                    problems.append(f"{name}.{ev_name}: invalid schedule expression {expr!r}")
                tz = ev.get("Properties", {}).get("ScheduleExpressionTimezone")
                if tz is not None and tz != "Europe/Paris":
                    problems.append(f"{name}.{ev_name}: time zone {tz}")
            for policy in props.get("Policies", []):
                for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
                    res_ = st.get("Resource")
                    if (res_ == "*" or (isinstance(res_, list) and "*" in res_)) and st.get("Sid") not in STAR_ALLOWED:
                        problems.append(f"{name}: statement {st.get('Sid')} grants on '*'")
    for name, res in resources.items():
        if res.get("Type") == "AWS::SQS::Queue":
            for fname, fres in resources.items():
                for ev in fres.get("Properties", {}).get("Events", {}).values():
                    if ev.get("Type") == "SQS" and ev["Properties"]["Queue"] == {"Fn::GetAtt": [name, "Arn"]}:
                        vis = res["Properties"].get("VisibilityTimeout", 30)
                        if vis < timeouts.get(fname, 3):
                            problems.append(f"{name}: visibility {vis}s is shorter than {fname}'s timeout")
    for p in problems:
        print(p)
    print(f"{len(resources)} resources checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
