#!/usr/bin/env bash
# Builds the Java runtime: Jackson (from Maven Central, via the local Maven cache) and
# gust-java-runtime.jar into runtimes/java/lib/, then installs them with a CDS archive of the
# classes every invocation loads into /usr/local/lib/gust/java (runtime.jsa, and the class path
# it was dumped with in runtime.classpath: a JVM uses the archive only when its class path
# starts with exactly those jars, at the same paths, and /usr is what every sandbox shows at the
# host's paths). Idempotent: skips the work when the archive is newer than the sources.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lib="$here/lib"
cds="${GUST_JAVA_CDS_DIR:-/usr/local/lib/gust/java}"
if [ -f "$cds/runtime.jsa" ] && [ -f "$lib/gust-java-runtime.jar" ] &&
   [ "$cds/runtime.jsa" -nt "$here/src/dev/gust/runtime/Main.java" ] &&
   [ "$cds/runtime.jsa" -nt "$here/pom.xml" ]; then
  exit 0
fi
echo "java runtime: fetching Jackson, compiling, dumping the CDS archive into $cds"
mkdir -p "$lib"
rm -f "$lib"/*.jar
(cd "$here" && mvn -B -q -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime)
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -nowarn -d "$classes" -cp "$lib/*" "$here/src/dev/gust/runtime/Main.java"
jar --create --file "$lib/gust-java-runtime.jar" -C "$classes" .

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" rm -rf "$cds"
"${sudo_cmd[@]}" mkdir -p "$cds"
"${sudo_cmd[@]}" cp "$lib"/*.jar "$cds/"
jars="$cds/gust-java-runtime.jar"
for jar in "$cds"/jackson-*.jar; do jars="$jars:$jar"; done
# The same flags the relay starts functions with, so the archive matches them.
"${sudo_cmd[@]}" java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
  -XX:ArchiveClassesAtExit="$cds/runtime.jsa" -cp "$jars" dev.gust.runtime.Main --warmup >/dev/null
tr ':' '\n' <<<"$jars" | "${sudo_cmd[@]}" tee "$cds/runtime.classpath" >/dev/null
