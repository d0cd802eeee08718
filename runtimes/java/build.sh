#!/usr/bin/env bash
# Builds the Java runtime into runtimes/java/lib/: Jackson (from Maven Central, via the local
# Maven cache) and gust-java-runtime.jar. Idempotent: skips the work when the jar is newer than
# its source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jar="$here/lib/gust-java-runtime.jar"
if [ -f "$jar" ] && [ "$jar" -nt "$here/src/dev/gust/runtime/Main.java" ] && [ "$jar" -nt "$here/pom.xml" ]; then
  exit 0
fi
echo "java runtime: fetching Jackson and compiling"
mkdir -p "$here/lib"
(cd "$here" && mvn -B -q dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime)
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -nowarn -d "$classes" -cp "$here/lib/*" "$here/src/dev/gust/runtime/Main.java"
jar --create --file "$jar" -C "$classes" .
