#!/usr/bin/env bash
# The native stack for machines without Docker: one KRaft Kafka node from Maven Central's jars and
# ClickHouse from Debian's clickhouse-server package, both on loopback, all state under .stack/.
#
#   deploy/native/stack.sh up       install what is missing, start both, wait until healthy
#   deploy/native/stack.sh down     stop both (data is kept)
#   deploy/native/stack.sh status   say what runs where
#   deploy/native/stack.sh env      print the environment the services need (source it)
#   deploy/native/stack.sh reset    stop and delete all local data
#   deploy/native/stack.sh kafka-stop|kafka-start|clickhouse-stop|clickhouse-start
#                                   one server only, data kept (outage tests and chaos runs)
#
# Kafka also listens with SASL/SCRAM in clear (:19094) and over TLS (:19095) with a local CA, so
# clients' security settings can be proven against a real broker; the services use PLAINTEXT.
#
# If KAFKA_BROKERS and CLICKHOUSE_URL are both set, nothing is installed or started: those win.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/native"
STACK="${JOULESTREAM_STACK_DIR:-$ROOT/.stack}"
KAFKA_VERSION="${JOULESTREAM_KAFKA_VERSION:-4.4.0}"
KAFKA_PORT="${JOULESTREAM_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${JOULESTREAM_KAFKA_CONTROLLER_PORT:-19093}"
SASL_PORT="${JOULESTREAM_KAFKA_SASL_PORT:-19094}"
SASL_SSL_PORT="${JOULESTREAM_KAFKA_SASL_SSL_PORT:-19095}"
SCRAM_USER=joulestream
CH_HTTP_PORT="${JOULESTREAM_CLICKHOUSE_HTTP_PORT:-18123}"
CH_TCP_PORT="${JOULESTREAM_CLICKHOUSE_TCP_PORT:-19000}"
ADMIN_USER=joulestream_admin
WRITER_USER=joulestream_writer
READER_USER=joulestream_reader

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port held by something other than our own process means a clash the user must resolve.
check_port_free() {
  local port=$1 name=$2 pidfile=$3 var=$4
  if port_open "$port" && ! pid_alive "$pidfile"; then
    die "port $port (for $name) is taken by another process. Stop it, or pick another port with $var=<port>."
  fi
}

need_root_or() {
  if [ "$(id -u)" != 0 ]; then die "$1 is missing and installing it needs root: $2"; fi
}

ensure_java() {
  command -v java >/dev/null || die "Java is missing: Kafka $KAFKA_VERSION needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)."
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ "${major:-0}" -ge 17 ] || die "Java $major found; Kafka $KAFKA_VERSION needs Java 17 or newer."
}

# The jar set follows the pom: a changed pom fetches a fresh set beside the old one.
jars_dir() { printf '%s' "$STACK/kafka/jars-$KAFKA_VERSION-$(sha256sum "$HERE/kafka/pom.xml" | cut -c1-8)"; }

ensure_kafka_jars() {
  local jars; jars=$(jars_dir)
  if [ -f "$jars/.complete" ]; then return; fi
  command -v mvn >/dev/null || die "Maven is missing: it fetches Kafka's jars (Debian: apt-get install maven)."
  say "fetching Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$jars"
  mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$jars" >&2 \
    || die "Maven could not fetch Kafka $KAFKA_VERSION (is Maven Central reachable?)"
  touch "$jars/.complete"
}

ensure_clickhouse() {
  if command -v clickhouse-server >/dev/null; then return; fi
  need_root_or clickhouse-server "apt-get install clickhouse-server"
  say "installing Debian's clickhouse-server"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >&2 \
    || die "apt-get could not install clickhouse-server"
}

# Secrets are made once, kept in files readable by the owner only, and never printed.
secret() {
  local f="$STACK/secrets/$1.password"
  if [ ! -s "$f" ]; then
    mkdir -p "$STACK/secrets"; chmod 700 "$STACK/secrets"
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
  fi
  printf '%s' "$f"
}

# A local CA and a broker certificate for 127.0.0.1, made once; clients trust ca.pem.
ensure_tls() {
  local tls="$STACK/kafka/tls"
  if [ -s "$tls/broker.pem" ]; then return; fi
  command -v openssl >/dev/null || die "openssl is missing: it makes the TLS listener's certificate (apt-get install openssl)."
  mkdir -p "$tls"; chmod 700 "$tls"
  (
    cd "$tls"; umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=joulestream local CA" \
      -keyout ca.key -out ca.pem >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out broker.crt >/dev/null 2>&1
    # Kafka's PEM keystore: an unencrypted PKCS#8 key followed by the certificate chain.
    openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
    cat broker.p8 broker.crt ca.pem >broker.pem
    chmod 644 ca.pem
  ) || die "openssl could not make the TLS listener's certificate"
}

# The SCRAM user of the SASL listeners, (re)made whenever its password file changes.
ensure_scram_user() {
  local pwfile; pwfile=$(secret kafka-scram)
  local marker="$STACK/kafka/data/.scram-$(sha256_of_file "$pwfile" | cut -c1-16)"
  if [ -f "$marker" ]; then return; fi
  # The tool takes the password on its command line only (a local, loopback-only dev broker); its
  # output is redacted before it reaches the log, since its error text repeats the arguments.
  local pw mech; pw=$(cat "$pwfile")
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    java -Xmx256m -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -cp "$(jars_dir)/*" \
      org.apache.kafka.tools.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
      --add-config "$mech=[password=$pw]" --entity-type users --entity-name "$SCRAM_USER" 2>&1 \
      | sed "s/$pw/<redacted>/g" >"$STACK/kafka/logs/scram.log" \
      || die "could not create the SCRAM user; see $STACK/kafka/logs/scram.log"
  done
  rm -f "$STACK/kafka/data"/.scram-*
  touch "$marker"
}

sha256_of_file() { sha256sum "$1" | cut -d' ' -f1; }

render() { # template out key=value...
  local tmpl=$1 out=$2; shift 2
  local content; content=$(cat "$tmpl")
  for kv in "$@"; do content=${content//"@${kv%%=*}@"/${kv#*=}}; done
  printf '%s\n' "$content" >"$out"
}

start_kafka() {
  local dir="$STACK/kafka" pidfile="$STACK/kafka/kafka.pid"
  if pid_alive "$pidfile"; then say "kafka already running (pid $(cat "$pidfile"))"; return; fi
  check_port_free "$KAFKA_PORT" kafka "$pidfile" JOULESTREAM_KAFKA_PORT
  check_port_free "$CONTROLLER_PORT" "kafka controller" "$pidfile" JOULESTREAM_KAFKA_CONTROLLER_PORT
  check_port_free "$SASL_PORT" "kafka sasl" "$pidfile" JOULESTREAM_KAFKA_SASL_PORT
  check_port_free "$SASL_SSL_PORT" "kafka sasl_ssl" "$pidfile" JOULESTREAM_KAFKA_SASL_SSL_PORT
  ensure_java
  ensure_kafka_jars
  ensure_tls
  mkdir -p "$dir/data" "$dir/logs"
  render "$HERE/kafka/server.properties.tmpl" "$dir/server.properties" \
    KAFKA_PORT="$KAFKA_PORT" CONTROLLER_PORT="$CONTROLLER_PORT" DATA_DIR="$dir/data" \
    SASL_PORT="$SASL_PORT" SASL_SSL_PORT="$SASL_SSL_PORT" TLS_DIR="$dir/tls"
  local cp
  cp="$(jars_dir)/*"
  local jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$dir/logs")
  if [ ! -f "$dir/data/meta.properties" ]; then
    say "formatting Kafka storage (first start)"
    local cluster_id
    cluster_id=$(java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid)
    java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
      || die "formatting Kafka storage failed; see $dir/logs/format.log"
  fi
  say "starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  # Readiness looks for the start line after this point, so a restart does not see the last one.
  wc -l <"$dir/logs/server.log" 2>/dev/null >"$dir/logs/.ready-from" || echo 0 >"$dir/logs/.ready-from"
  setsid nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

start_clickhouse() {
  local dir="$STACK/clickhouse" pidfile="$STACK/clickhouse/clickhouse.pid"
  if pid_alive "$pidfile"; then say "clickhouse already running (pid $(cat "$pidfile"))"; return; fi
  check_port_free "$CH_HTTP_PORT" "clickhouse http" "$pidfile" JOULESTREAM_CLICKHOUSE_HTTP_PORT
  check_port_free "$CH_TCP_PORT" "clickhouse tcp" "$pidfile" JOULESTREAM_CLICKHOUSE_TCP_PORT
  ensure_clickhouse
  mkdir -p "$dir/data" "$dir/logs" "$dir/conf"
  render "$HERE/clickhouse/config.xml.tmpl" "$dir/conf/config.xml" \
    LOG_DIR="$dir/logs" HTTP_PORT="$CH_HTTP_PORT" TCP_PORT="$CH_TCP_PORT" \
    DATA_DIR="$dir/data" CONF_DIR="$dir/conf"
  (umask 077; render "$HERE/clickhouse/users.xml.tmpl" "$dir/conf/users.xml" \
    ADMIN_USER="$ADMIN_USER" WRITER_USER="$WRITER_USER" READER_USER="$READER_USER" \
    ADMIN_SHA="$(sha256_of_file "$(secret clickhouse-admin)")" \
    WRITER_SHA="$(sha256_of_file "$(secret clickhouse-writer)")" \
    READER_SHA="$(sha256_of_file "$(secret clickhouse-reader)")")
  say "starting clickhouse-server on 127.0.0.1:$CH_HTTP_PORT"
  setsid nohup clickhouse-server --config-file="$dir/conf/config.xml" \
    >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

wait_for() { # name seconds command...
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

kafka_ready() {
  # The broker logs this line only after the KRaft quorum elected itself and the listeners are up.
  local from; from=$(cat "$STACK/kafka/logs/.ready-from" 2>/dev/null || echo 0)
  # awk reads to the end: `tail | grep -q` would die of SIGPIPE and fail under pipefail.
  port_open "$KAFKA_PORT" && awk -v from="$from" \
    'NR > from && /Kafka Server started/ { found = 1 } END { exit !found }' "$STACK/kafka/logs/server.log"
}

clickhouse_ready() {
  curl -sf -m 2 "http://127.0.0.1:$CH_HTTP_PORT/ping" | grep -q Ok
}

print_env() {
  if [ -n "${KAFKA_BROKERS:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then return; fi
  cat <<EOF
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
export CLICKHOUSE_ADMIN_USER=$ADMIN_USER
export CLICKHOUSE_ADMIN_PASSWORD_FILE=$(secret clickhouse-admin)
export CLICKHOUSE_WRITER_USER=$WRITER_USER
export CLICKHOUSE_WRITER_PASSWORD_FILE=$(secret clickhouse-writer)
export CLICKHOUSE_READER_USER=$READER_USER
export CLICKHOUSE_READER_PASSWORD_FILE=$(secret clickhouse-reader)
export JOULESTREAM_STACK_KAFKA_SASL_BROKERS=127.0.0.1:$SASL_PORT
export JOULESTREAM_STACK_KAFKA_SASL_SSL_BROKERS=127.0.0.1:$SASL_SSL_PORT
export JOULESTREAM_STACK_KAFKA_SCRAM_USER=$SCRAM_USER
export JOULESTREAM_STACK_KAFKA_SCRAM_PASSWORD_FILE=$(secret kafka-scram)
export JOULESTREAM_STACK_KAFKA_CA_FILE=$STACK/kafka/tls/ca.pem
EOF
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

cmd=${1:-up}
case "$cmd" in
  up)
    if [ -n "${KAFKA_BROKERS:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then
      say "KAFKA_BROKERS and CLICKHOUSE_URL are set: using them, starting nothing"
      exit 0
    fi
    mkdir -p "$STACK"
    start_kafka
    start_clickhouse
    wait_for clickhouse 60 clickhouse_ready \
      || die "clickhouse did not answer on :$CH_HTTP_PORT within 60 s; see $STACK/clickhouse/logs/"
    wait_for kafka 120 kafka_ready \
      || die "kafka did not become ready on :$KAFKA_PORT within 120 s; see $STACK/kafka/logs/server.log"
    ensure_scram_user
    say "ready: kafka 127.0.0.1:$KAFKA_PORT, clickhouse http://127.0.0.1:$CH_HTTP_PORT"
    print_env >"$STACK/env"
    ;;
  down)
    stop_one kafka "$STACK/kafka/kafka.pid"
    stop_one clickhouse "$STACK/clickhouse/clickhouse.pid"
    ;;
  status)
    pid_alive "$STACK/kafka/kafka.pid" && say "kafka: running, 127.0.0.1:$KAFKA_PORT" || say "kafka: stopped"
    pid_alive "$STACK/clickhouse/clickhouse.pid" && say "clickhouse: running, http://127.0.0.1:$CH_HTTP_PORT" || say "clickhouse: stopped"
    ;;
  env) print_env ;;
  kafka-stop) # for outage tests and chaos runs: the broker only, data kept
    stop_one kafka "$STACK/kafka/kafka.pid"
    ;;
  kafka-start)
    start_kafka
    wait_for kafka 120 kafka_ready \
      || die "kafka did not become ready on :$KAFKA_PORT within 120 s; see $STACK/kafka/logs/server.log"
    say "kafka ready on 127.0.0.1:$KAFKA_PORT"
    ;;
  clickhouse-stop)
    stop_one clickhouse "$STACK/clickhouse/clickhouse.pid"
    ;;
  clickhouse-start)
    start_clickhouse
    wait_for clickhouse 60 clickhouse_ready \
      || die "clickhouse did not answer on :$CH_HTTP_PORT within 60 s; see $STACK/clickhouse/logs/"
    say "clickhouse ready on 127.0.0.1:$CH_HTTP_PORT"
    ;;
  reset)
    "$0" down
    rm -rf "$STACK/kafka/data" "$STACK/clickhouse/data" "$STACK/kafka/logs" "$STACK/clickhouse/logs"
    say "local data removed"
    ;;
  *) die "unknown command '$cmd' (use up, down, status, env, reset, kafka-stop, kafka-start, clickhouse-stop or clickhouse-start)" ;;
esac
