#!/usr/bin/env bash
# The native cluster, on one machine without Docker: three KRaft Kafka brokers (each also a
# controller), one ZooKeeper, and four clickhouse-server processes (2 shards x 2 replicas). Jars from
# Maven Central, ClickHouse from Debian; everything on loopback, all state under .cluster/.
#
#   deploy/native/cluster.sh up          install what is missing, start everything, wait until healthy
#   deploy/native/cluster.sh down        stop everything (data is kept)
#   deploy/native/cluster.sh status      say what runs where
#   deploy/native/cluster.sh env         print the environment the services need (source it)
#   deploy/native/cluster.sh reset       stop and delete all cluster data
#   deploy/native/cluster.sh broker-stop N | broker-start N        (N = 1..3)
#   deploy/native/cluster.sh clickhouse-stop N | clickhouse-start N (N = 1..4: s1r1 s1r2 s2r1 s2r2)
#   deploy/native/cluster.sh zookeeper-stop | zookeeper-start
#                                        one process only, data kept (the cluster fault test)
#
# Ports: JOULESTREAM_CLUSTER_PORT_BASE (default 24500) + brokers 11-13, controllers 21-23,
# ZooKeeper 30, ClickHouse HTTP 41-44, TCP 51-54, interserver 61-64.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/native"
TMPL="$HERE/cluster"
STATE="${JOULESTREAM_CLUSTER_DIR:-$ROOT/.cluster}"
BASE="${JOULESTREAM_CLUSTER_PORT_BASE:-24500}"
KAFKA_VERSION="${JOULESTREAM_KAFKA_VERSION:-4.4.0}"
CLUSTER=joulestream
ADMIN_USER=joulestream_admin
WRITER_USER=joulestream_writer
READER_USER=joulestream_reader
INTERNAL_USER=joulestream_cluster
BROKERS=(1 2 3)
NODES=(1 2 3 4)

broker_port() { echo $((BASE + 10 + $1)); }
controller_port() { echo $((BASE + 20 + $1)); }
ZK_PORT=$((BASE + 30))
ch_http() { echo $((BASE + 40 + $1)); }
ch_tcp() { echo $((BASE + 50 + $1)); }
ch_inter() { echo $((BASE + 60 + $1)); }
ch_shard() { echo "0$(((($1 - 1) / 2) + 1))"; }
ch_replica() { echo "r$(((($1 - 1) % 2) + 1))"; }

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
sha256_of_file() { sha256sum "$1" | cut -d' ' -f1; }

check_port_free() {
  local port=$1 name=$2 pidfile=$3
  if port_open "$port" && ! pid_alive "$pidfile"; then
    die "port $port (for $name) is taken by another process. Stop it, or move the cluster with JOULESTREAM_CLUSTER_PORT_BASE=<port>."
  fi
}

render() { # template out key=value...
  local tmpl=$1 out=$2; shift 2
  local content; content=$(cat "$tmpl")
  for kv in "$@"; do content=${content//"@${kv%%=*}@"/${kv#*=}}; done
  printf '%s\n' "$content" >"$out"
}

secret() {
  local f="$STATE/secrets/$1.password"
  if [ ! -s "$f" ]; then
    mkdir -p "$STATE/secrets"; chmod 700 "$STATE/secrets"
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
  fi
  printf '%s' "$f"
}

ensure_java() {
  command -v java >/dev/null || die "Java is missing: Kafka and ZooKeeper need Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)."
}

# Jar sets follow their pom: a changed pom fetches a fresh set beside the old one.
fetch_jars() { # pom dir version-property version
  local pom=$1 dir=$2
  if [ -f "$dir/.complete" ]; then return; fi
  command -v mvn >/dev/null || die "Maven is missing: it fetches the jars (Debian: apt-get install maven)."
  say "fetching $(basename "$(dirname "$pom")") jars from Maven Central"
  rm -rf "$dir"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -D"$3"="$4" \
    -DoutputDirectory="$dir" >&2 || die "Maven could not fetch the jars of $pom (is Maven Central reachable?)"
  touch "$dir/.complete"
}
kafka_jars() { printf '%s' "$STATE/jars/kafka-$KAFKA_VERSION-$(sha256sum "$HERE/kafka/pom.xml" | cut -c1-8)"; }
zk_jars() { printf '%s' "$STATE/jars/zookeeper-$(sha256sum "$TMPL/zookeeper/pom.xml" | cut -c1-8)"; }

# Small heaps: seven JVM and ClickHouse processes share this machine with the tests.
KAFKA_JVM=(-Xms128m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml")

start_broker() {
  local n=$1 dir="$STATE/kafka/$1" pidfile="$STATE/kafka/$1/kafka.pid"
  if pid_alive "$pidfile"; then say "broker $n already running"; return; fi
  check_port_free "$(broker_port "$n")" "broker $n" "$pidfile"
  check_port_free "$(controller_port "$n")" "controller $n" "$pidfile"
  mkdir -p "$dir/data" "$dir/logs"
  local voters="" b
  for b in "${BROKERS[@]}"; do voters+="${voters:+,}$b@127.0.0.1:$(controller_port "$b")"; done
  render "$TMPL/kafka.properties.tmpl" "$dir/server.properties" NODE_ID="$n" VOTERS="$voters" \
    BROKER_PORT="$(broker_port "$n")" CONTROLLER_PORT="$(controller_port "$n")" DATA_DIR="$dir/data"
  local cp; cp="$(kafka_jars)/*"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java "${KAFKA_JVM[@]}" -Dkafka.logs.dir="$dir/logs" -cp "$cp" kafka.tools.StorageTool format \
      -t "$(cat "$STATE/kafka/cluster-id")" -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
      || die "formatting broker $n's storage failed; see $dir/logs/format.log"
  fi
  wc -l <"$dir/logs/server.log" 2>/dev/null >"$dir/logs/.ready-from" || echo 0 >"$dir/logs/.ready-from"
  setsid nohup java "${KAFKA_JVM[@]}" -Dkafka.logs.dir="$dir/logs" -cp "$cp" kafka.Kafka \
    "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "broker $n starting on 127.0.0.1:$(broker_port "$n")"
}

broker_ready() {
  local n=$1 from; from=$(cat "$STATE/kafka/$n/logs/.ready-from" 2>/dev/null || echo 0)
  port_open "$(broker_port "$n")" && awk -v from="$from" \
    'NR > from && /Kafka Server started/ { found = 1 } END { exit !found }' "$STATE/kafka/$n/logs/server.log"
}

start_zookeeper() {
  local dir="$STATE/zookeeper" pidfile="$STATE/zookeeper/zk.pid"
  if pid_alive "$pidfile"; then say "zookeeper already running"; return; fi
  check_port_free "$ZK_PORT" zookeeper "$pidfile"
  mkdir -p "$dir/data" "$dir/logs"
  render "$TMPL/zoo.cfg.tmpl" "$dir/zoo.cfg" DATA_DIR="$dir/data" ZK_PORT="$ZK_PORT"
  setsid nohup java -Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$(zk_jars)/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "zookeeper starting on 127.0.0.1:$ZK_PORT"
}

zookeeper_ready() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null || true)
  [ "$reply" = imok ]
}

start_clickhouse() {
  local n=$1 dir="$STATE/clickhouse/$1" pidfile="$STATE/clickhouse/$1/clickhouse.pid"
  if pid_alive "$pidfile"; then say "clickhouse $n already running"; return; fi
  command -v clickhouse-server >/dev/null || die "clickhouse-server is missing (Debian: apt-get install clickhouse-server)"
  check_port_free "$(ch_http "$n")" "clickhouse $n http" "$pidfile"
  check_port_free "$(ch_tcp "$n")" "clickhouse $n tcp" "$pidfile"
  check_port_free "$(ch_inter "$n")" "clickhouse $n interserver" "$pidfile"
  mkdir -p "$dir/data" "$dir/logs" "$dir/conf"
  (umask 077; render "$TMPL/clickhouse.xml.tmpl" "$dir/conf/config.xml" \
    LOG_DIR="$dir/logs" DATA_DIR="$dir/data" CONF_DIR="$dir/conf" \
    HTTP_PORT="$(ch_http "$n")" TCP_PORT="$(ch_tcp "$n")" INTERSERVER_PORT="$(ch_inter "$n")" \
    ZK_PORT="$ZK_PORT" SHARD="$(ch_shard "$n")" REPLICA="$(ch_replica "$n")" CLUSTER="$CLUSTER" \
    TCP_1="$(ch_tcp 1)" TCP_2="$(ch_tcp 2)" TCP_3="$(ch_tcp 3)" TCP_4="$(ch_tcp 4)" \
    CLUSTER_USER="$INTERNAL_USER" CLUSTER_PASSWORD="$(cat "$(secret clickhouse-internal)")")
  (umask 077; render "$TMPL/users.xml.tmpl" "$dir/conf/users.xml" \
    ADMIN_USER="$ADMIN_USER" WRITER_USER="$WRITER_USER" READER_USER="$READER_USER" \
    CLUSTER_USER="$INTERNAL_USER" \
    ADMIN_SHA="$(sha256_of_file "$(secret clickhouse-admin)")" \
    WRITER_SHA="$(sha256_of_file "$(secret clickhouse-writer)")" \
    READER_SHA="$(sha256_of_file "$(secret clickhouse-reader)")" \
    CLUSTER_SHA="$(sha256_of_file "$(secret clickhouse-internal)")")
  setsid nohup clickhouse-server --config-file="$dir/conf/config.xml" \
    >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "clickhouse $n ($(ch_shard "$n")/$(ch_replica "$n")) starting on http://127.0.0.1:$(ch_http "$n")"
}

clickhouse_ready() { curl -sf -m 2 "http://127.0.0.1:$(ch_http "$1")/ping" | grep -q Ok; }

wait_for() { # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

stop_one() {
  local name=$1 pidfile=$2
  if pid_alive "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

print_env() {
  local brokers="" b urls="" n
  for b in "${BROKERS[@]}"; do brokers+="${brokers:+,}127.0.0.1:$(broker_port "$b")"; done
  for n in "${NODES[@]}"; do urls+="${urls:+,}http://127.0.0.1:$(ch_http "$n")"; done
  cat <<EOF
export KAFKA_BROKERS=$brokers
export KAFKA_REPLICATION_FACTOR=3
export KAFKA_MIN_INSYNC_REPLICAS=2
export CLICKHOUSE_URL=http://127.0.0.1:$(ch_http 1)
export CLICKHOUSE_CLUSTER=$CLUSTER
export CLICKHOUSE_NODE_URLS=$urls
export CLICKHOUSE_ADMIN_USER=$ADMIN_USER
export CLICKHOUSE_ADMIN_PASSWORD_FILE=$(secret clickhouse-admin)
export CLICKHOUSE_WRITER_USER=$WRITER_USER
export CLICKHOUSE_WRITER_PASSWORD_FILE=$(secret clickhouse-writer)
export CLICKHOUSE_READER_USER=$READER_USER
export CLICKHOUSE_READER_PASSWORD_FILE=$(secret clickhouse-reader)
EOF
}

node_arg() { # the N of a one-process command, checked against its range
  local n=${1:-} max=$2
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$max" ] || die "give a number from 1 to $max"
  printf '%s' "$n"
}

cmd=${1:-up}
case "$cmd" in
  up)
    ensure_java
    mkdir -p "$STATE/kafka"
    fetch_jars "$HERE/kafka/pom.xml" "$(kafka_jars)" kafka.version "$KAFKA_VERSION"
    fetch_jars "$TMPL/zookeeper/pom.xml" "$(zk_jars)" zookeeper.version 3.9.5
    if [ ! -s "$STATE/kafka/cluster-id" ]; then
      java "${KAFKA_JVM[@]}" -cp "$(kafka_jars)/*" kafka.tools.StorageTool random-uuid >"$STATE/kafka/cluster-id"
    fi
    t0=$SECONDS
    start_zookeeper
    for b in "${BROKERS[@]}"; do start_broker "$b"; done
    wait_for 60 zookeeper_ready || die "zookeeper did not answer on :$ZK_PORT within 60 s; see $STATE/zookeeper/logs/"
    for n in "${NODES[@]}"; do start_clickhouse "$n"; done
    for n in "${NODES[@]}"; do
      wait_for 60 clickhouse_ready "$n" || die "clickhouse $n did not answer within 60 s; see $STATE/clickhouse/$n/logs/"
    done
    for b in "${BROKERS[@]}"; do
      wait_for 180 broker_ready "$b" || die "broker $b did not become ready within 180 s; see $STATE/kafka/$b/logs/server.log"
    done
    print_env >"$STATE/env"
    say "ready in $((SECONDS - t0)) s: 3 brokers, zookeeper, 4 clickhouse nodes; source $STATE/env"
    ;;
  down)
    # All at once: brokers stopped one by one lose their controller quorum, and the last one waits
    # out the 30 s grace period for a controlled shutdown that cannot happen (1 min 43 s measured).
    for n in "${NODES[@]}"; do stop_one "clickhouse $n" "$STATE/clickhouse/$n/clickhouse.pid" & done
    for b in "${BROKERS[@]}"; do stop_one "broker $b" "$STATE/kafka/$b/kafka.pid" & done
    wait
    stop_one zookeeper "$STATE/zookeeper/zk.pid"
    ;;
  status)
    for b in "${BROKERS[@]}"; do
      pid_alive "$STATE/kafka/$b/kafka.pid" && say "broker $b: running, 127.0.0.1:$(broker_port "$b")" || say "broker $b: stopped"
    done
    pid_alive "$STATE/zookeeper/zk.pid" && say "zookeeper: running, 127.0.0.1:$ZK_PORT" || say "zookeeper: stopped"
    for n in "${NODES[@]}"; do
      pid_alive "$STATE/clickhouse/$n/clickhouse.pid" \
        && say "clickhouse $n (shard $(ch_shard "$n"), replica $(ch_replica "$n")): running, http://127.0.0.1:$(ch_http "$n")" \
        || say "clickhouse $n: stopped"
    done
    ;;
  env) print_env ;;
  reset)
    bash "$0" down
    rm -rf "$STATE/kafka" "$STATE/zookeeper" "$STATE/clickhouse" "$STATE/env"
    say "cluster data removed"
    ;;
  broker-stop) n=$(node_arg "${2:-}" 3); stop_one "broker $n" "$STATE/kafka/$n/kafka.pid" ;;
  broker-start)
    n=$(node_arg "${2:-}" 3); start_broker "$n"
    wait_for 180 broker_ready "$n" || die "broker $n did not become ready within 180 s"
    ;;
  clickhouse-stop) n=$(node_arg "${2:-}" 4); stop_one "clickhouse $n" "$STATE/clickhouse/$n/clickhouse.pid" ;;
  clickhouse-start)
    n=$(node_arg "${2:-}" 4); start_clickhouse "$n"
    wait_for 60 clickhouse_ready "$n" || die "clickhouse $n did not answer within 60 s"
    ;;
  zookeeper-stop) stop_one zookeeper "$STATE/zookeeper/zk.pid" ;;
  zookeeper-start)
    start_zookeeper
    wait_for 60 zookeeper_ready || die "zookeeper did not answer on :$ZK_PORT within 60 s"
    ;;
  *) die "unknown command '$cmd' (up, down, status, env, reset, broker-stop|broker-start N, clickhouse-stop|clickhouse-start N, zookeeper-stop|zookeeper-start)" ;;
esac
