#!/usr/bin/env python3
"""A grader for model-written Python, for ./sdpo's external environment.

Reads {"task": {..., "data": {"tests": [{"call": "f(2)", "expected": "5"}, ...]}},
"attempt": "<python source>"} on standard input and writes {"reward", "success", "summary",
"feedback", "details"} on standard output. Each test runs the attempt in a fresh, isolated
python3 process (-I) inside $SDPO_WORKDIR, the sandbox's private directory, with a time limit;
the reward is the fraction of tests passed, success means all of them. The feedback names the
first failing test as a judge would: what the call returned (or raised) and what was expected.

    ./sdpo verify --env external --command "python3 examples/graders/python_tests.py" \\
        --task-file examples/graders/python_tasks.jsonl --attempt-file attempt.py
"""
import json
import os
import subprocess
import sys
import tempfile

TEST_SECONDS = 2.0


def run_test(workdir, call):
    """(ok, printed value or error) of one call against the attempt."""
    runner = os.path.join(workdir, "run_test.py")
    with open(runner, "w") as f:
        f.write("import sys\n"
                "src = open('attempt.py').read()\n"
                "env = {}\n"
                "exec(compile(src, 'attempt.py', 'exec'), env)\n"
                "print(repr(eval(sys.argv[1], env)))\n")
    try:
        p = subprocess.run([sys.executable, "-I", runner, call], cwd=workdir,
                           capture_output=True, text=True, timeout=TEST_SECONDS)
    except subprocess.TimeoutExpired:
        return False, "timed out after %.0f s" % TEST_SECONDS
    if p.returncode != 0:
        lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
        return False, "raised " + (lines[-1] if lines else "an error (exit %d)" % p.returncode)
    return True, p.stdout.strip()


def main():
    request = json.load(sys.stdin)
    tests = request["task"].get("data", {}).get("tests", [])
    workdir = os.environ.get("SDPO_WORKDIR") or tempfile.mkdtemp()
    with open(os.path.join(workdir, "attempt.py"), "w") as f:
        f.write(request["attempt"])
    passed = 0
    first_failure = None
    for i, t in enumerate(tests):
        ok, got = run_test(workdir, t["call"])
        if ok and got == t["expected"]:
            passed += 1
        elif first_failure is None:
            what = got if not ok else "returned %s" % got
            first_failure = "%s %s, expected %s (test %d of %d)" % (
                t["call"], what, t["expected"], i + 1, len(tests))
    success = bool(tests) and passed == len(tests)
    print(json.dumps({
        "reward": passed / len(tests) if tests else 0.0,
        "success": success,
        "summary": "Accepted" if success else "Wrong Answer",
        "feedback": "" if success else (first_failure or "no tests"),
        "details": {"passed": passed, "tests": len(tests)},
    }))


if __name__ == "__main__":
    main()
