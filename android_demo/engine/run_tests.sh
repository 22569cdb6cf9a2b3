#!/usr/bin/env bash
# Compiles the anytime engine and its JUnit 5 tests with javac and runs them with the JUnit console
# launcher; prints a plain "N passed, N failed" line last. Exit status: the launcher's (0 = all passed).
#
#   [JAVA_HOME=JDK] bash android_demo/engine/run_tests.sh [--fixture=F --manifest=M --samples=DIR --preprocessed=P]
#                                                         [--assets=DIR]
#
# The four options feed the cross-check with the Python runner (FixtureReplayTest); --assets, an
# assets folder filled by android_demo/scripts/fill_assets.py from the fixture's export, feeds
# AssetsSessionTest (with --fixture). Without them those tests are skipped and reported as skipped. tests/test_android_engine.py exports them from a
# tiny model and passes them. Needs javac, JUnit 5 and org.json: `bash scripts/setup.sh`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
props=()
for arg in "$@"; do
  case "$arg" in
    --fixture=*) props+=("-Dhnetf.fixture=${arg#*=}") ;;
    --manifest=*) props+=("-Dhnetf.manifest=${arg#*=}") ;;
    --samples=*) props+=("-Dhnetf.samples=${arg#*=}") ;;
    --preprocessed=*) props+=("-Dhnetf.preprocessed=${arg#*=}") ;;
    --assets=*) props+=("-Dhnetf.assets=${arg#*=}") ;;
    *) echo "run_tests.sh: error: unknown argument '$arg' (see the header of $0)" >&2; exit 2 ;;
  esac
done

junit="${JUNIT_JAR:-/usr/share/java/junit-platform-console-standalone.jar}"
json="${JSON_JAR:-}"
if [ -z "$json" ]; then
  for candidate in /usr/share/java/com.android.json.jar /usr/share/java/android-json.jar; do
    if [ -f "$candidate" ]; then json="$candidate"; break; fi
  done
fi
# JAVA_HOME picks the JDK (e.g. JAVA_HOME=/usr/lib/jvm/java-21-openjdk-amd64), else javac and
# java on PATH; JAVAC or JAVA override one of the two (a runtime without a compiler, say).
javac_bin="${JAVAC:-${JAVA_HOME:+$JAVA_HOME/bin/}javac}"
java_bin="${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}"
missing=()
command -v "$javac_bin" >/dev/null || missing+=("$javac_bin (Debian: default-jdk-headless)")
command -v "$java_bin" >/dev/null || missing+=("$java_bin (Debian: default-jdk-headless)")
[ -f "$junit" ] || missing+=("JUnit 5 console launcher $junit (Debian: junit5)")
[ -n "$json" ] && [ -f "$json" ] || missing+=("org.json, /usr/share/java/com.android.json.jar (Debian: libandroid-json-java)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "run_tests.sh: error: missing ${missing[*]}; run 'bash scripts/setup.sh'" >&2
  exit 3
fi

build="${BUILD_DIR:-$(mktemp -d)}"
[ -n "${BUILD_DIR:-}" ] || trap 'rm -rf "$build"' EXIT
rm -rf "$build/main" "$build/test" "$build/reports"
mkdir -p "$build/main" "$build/test"
echo "JDK: $("$javac_bin" -version 2>&1), runtime $("$java_bin" -version 2>&1 | head -n 1)"
# --release 8: the engine may use only APIs Android has at minSdk 24. JDK 21 and later call
# release 8 obsolete with an [options] warning, which -Werror would turn into an error: the
# "options" lint is the one category left out (every other warning still fails the build).
"$javac_bin" --release 8 -Xlint:all,-options -Werror -encoding UTF-8 -d "$build/main" -cp "$json" \
  $(find "$here/src/main/java" -name '*.java' | sort)
# The manifest contract's schema, a class-path resource (Gradle: the engine's resources).
cp "$here/../../hne_tf/export/manifest.schema.json" "$build/main/manifest.schema.json"
# --release 17 for the tests: a newer javac's class files then still load on a Java 17 runtime (JAVA=...).
"$javac_bin" --release 17 -encoding UTF-8 -d "$build/test" -cp "$build/main:$json:$junit" \
  $(find "$here/src/test/java" -name '*.java' | sort)

set +e
"$java_bin" "${props[@]}" -Djava.awt.headless=true -jar "$junit" \
  --class-path "$build/main:$build/test:$json" --scan-class-path --fail-if-no-tests \
  --disable-banner --disable-ansi-colors --details=tree --reports-dir "$build/reports" 2>&1 | tee "$build/launcher.log"
status=${PIPESTATUS[0]}
set -e
count() {  # the launcher's summary line "[   N tests <what>   ]"
  sed -n "s/^\[ *\([0-9][0-9]*\) tests $1 *\]\$/\1/p" "$build/launcher.log" | tail -n 1
}
passed="$(count successful)"
failed="$(count failed)"
skipped="$(count skipped)"
aborted="$(count aborted)"
echo "${passed:-0} passed, ${failed:-0} failed"
echo "(${skipped:-0} skipped, ${aborted:-0} aborted: the fixture cross-check and the assets session test are skipped without --fixture/--manifest/--samples/--preprocessed/--assets)"
exit "$status"
