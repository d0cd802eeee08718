#!/usr/bin/env bash
# A real Apache Kafka broker for tests: `scripts/kafka.sh start|stop|status`.
#
# start: installs Kafka (org.apache.kafka:kafka_2.13 and its runtime dependencies, resolved by
# Maven from Maven Central into a cache outside the repo), then runs one KRaft broker+controller
# on 127.0.0.1:9092 (controller on 9093) with its data in a temp dir, and waits until it
# answers. Idempotent: a running broker is left alone. stop: stops it and removes its data.
# topic NAME [PARTITIONS]: creates a topic on it (if it does not exist).
# Needs Java 17+ and Maven (scripts/deps.sh installs them).
set -euo pipefail

version="${GUST_KAFKA_VERSION:-4.1.1}"
cache="${GUST_KAFKA_CACHE:-$HOME/.cache/gust/kafka}/$version"
state="${GUST_KAFKA_STATE:-${TMPDIR:-/tmp}/gust-kafka}"
port="${GUST_KAFKA_PORT:-9092}"
controller_port=$((port + 1))

log() { echo "kafka.sh: $*" >&2; }

install() {
  [ -f "$cache/.complete-2" ] && return 0
  command -v mvn >/dev/null || { log "Maven is missing: run scripts/deps.sh"; exit 1; }
  command -v java >/dev/null || { log "Java is missing: run scripts/deps.sh"; exit 1; }
  log "installing Apache Kafka $version into $cache (Maven Central)"
  local work
  work="$(mktemp -d)"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.gust</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$version</version>
    </dependency>
    <!-- Kafka logs through SLF4J 1.x; this binds it to the log4j2 it already depends on. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
POM
  mkdir -p "$cache/libs"
  if ! mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$cache/libs" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    log "Maven could not resolve Kafka $version"
    exit 1
  fi
  rm -rf "$work"
  # A resolution with another dependency set leaves jars behind: keep only this one's.
  touch "$cache/.complete-2"
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

ready() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && grep -q "Kafka Server started" "$state/broker.log" 2>/dev/null
}

start() {
  if running; then
    if ready; then log "already running on 127.0.0.1:$port (pid $(cat "$state/pid"))"; return 0; fi
  else
    install
    rm -rf "$state"
    mkdir -p "$state/data"
    cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$state/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
    cat >"$state/log4j2.properties" <<LOG
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
LOG
    local classpath="$cache/libs/*"
    local cluster_id
    cluster_id="$(java -cp "$classpath" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    java -cp "$classpath" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$state/server.properties" >"$state/format.log" 2>&1 || {
      cat "$state/format.log" >&2; log "formatting the storage failed"; exit 1; }
    # setsid: the broker outlives this script and the shell that ran it.
    setsid java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dkafka.logs.dir="$state" -Dlog4j2.configurationFile="$state/log4j2.properties" -cp "$classpath" kafka.Kafka "$state/server.properties" \
      >"$state/broker.log" 2>&1 </dev/null &
    echo $! >"$state/pid"
    log "starting a KRaft broker on 127.0.0.1:$port (pid $!, data in $state/data)"
  fi
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    if ready; then log "ready on 127.0.0.1:$port"; return 0; fi
    if ! running; then tail -50 "$state/broker.log" >&2; log "the broker exited"; exit 1; fi
    sleep 0.2
  done
  tail -50 "$state/broker.log" >&2
  log "the broker did not become ready in 60 s"
  exit 1
}

stop() {
  if running; then
    local pid
    pid="$(cat "$state/pid")"
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
  rm -rf "$state"
}

topic() {
  local name="${1:?usage: scripts/kafka.sh topic NAME [PARTITIONS]}" partitions="${2:-1}"
  java -cp "$cache/libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 >&2
}

case "${1:-}" in
  start) start ;;
  topic) shift; topic "$@" ;;
  stop) stop ;;
  status) if running && ready; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  install) install ;;
  *) echo "usage: scripts/kafka.sh start|stop|status|install|topic NAME [PARTITIONS]" >&2; exit 2 ;;
esac
