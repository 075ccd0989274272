#!/usr/bin/env bash
# Runs the NUnit suite (ctest csharp.binding): nunit-console's exit status,
# except for one known failure mode. Under load, mono sometimes dies with
# SIGSEGV while the process exits, after NUnit has run and reported every
# test (seen in about 1 run in 3 on a 2-core machine running other tests;
# not yet explained: not in any test, not in the finalizers of handles left
# to the GC). That crash is reported loudly but does not fail the suite when
# NUnit's result file shows every test run and none failed; any other crash,
# or a crash before the results are written, fails it.
#   run_tests.sh NUNIT_CONSOLE TESTS_DLL RESULT_XML
set -uo pipefail
console=$1 tests=$2 result=$3
rm -f "$result"
"$console" -nologo -noshadow -domain=None -labels "-xml=$result" "$tests"
status=$?
if [[ $status -eq 139 && -s $result ]] &&
   grep -Eq '<test-results [^>]*errors="0" failures="0" not-run="0"' "$result" &&
   grep -q '</test-results>' "$result"; then
  echo "WARNING: mono crashed (SIGSEGV) while exiting after every test had passed: the known exit-time crash" >&2
  exit 0
fi
exit $status
