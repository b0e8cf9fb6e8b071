#!/usr/bin/env bash
# A real Neo4j Community server for development, tests and CI, without Docker or root:
# the Neo4j engine embedded in keten.dev.Neo4jDevServer (pom.xml beside this script).
#
#   neo4j-dev.sh up      build if needed, start (or find the running one), wait until Bolt
#                        answers, then print NEO4J_URI=, NEO4J_USER=, NEO4J_PASSWORD= lines
#                        (also written to <data folder>/env); progress goes to stderr
#   neo4j-dev.sh down    stop the server of the data folder (SIGTERM, SIGKILL after a timeout)
#   neo4j-dev.sh status  say whether it runs (exit 0) or not (exit 3)
#
# Use it as: eval "$(deploy/neo4j-dev/neo4j-dev.sh up)", or `make neo4j-up` / `make neo4j-down`.
#
# Environment:
#   KETEN_HOME        data folder is $KETEN_HOME/neo4j-dev (default ./.keten/neo4j-dev)
#   NEO4J_PORT        Bolt port on 127.0.0.1 (7687)
#   NEO4J_PASSWORD    password of the neo4j user; default: the one in <data folder>/env,
#                     else a new random one. The server sets it on every start.
#   NEO4J_HEAP        JVM heap (1g)            NEO4J_PAGECACHE  page cache (512m)
#   NEO4J_TX_MAX      memory of one transaction (256m)
#   NEO4J_TX_TOTAL    memory of all transactions together (512m)
#   NEO4J_DEV_SETTINGS  more Neo4j settings, key=value separated by spaces
#   NEO4J_UP_TIMEOUT  seconds to wait for Bolt (120)   NEO4J_DOWN_TIMEOUT  for the stop (60)
#   JAVA_HOME         the JDK to build and run with (Neo4j 5 runs on Java 17 or 21)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
JAR=$HERE/target/neo4j-dev-server.jar
JSA=$HERE/target/neo4j-dev-server.jsa
STAMP=$HERE/target/build.stamp

DIR=$(realpath -m "${KETEN_HOME:-$ROOT/.keten}/neo4j-dev")
PIDFILE=$DIR/server.pid
LOG=$DIR/server.log
ENVFILE=$DIR/env

PORT=${NEO4J_PORT:-7687}
URI=bolt://127.0.0.1:$PORT
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

say() { echo "neo4j-dev: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "NEO4J_PORT must be a port number, not '$PORT'"
fi

# --- build -----------------------------------------------------------------------------

# Rebuild when the pom, the Java source or the JDK changed (not on file times: a fresh
# clone has new ones).
build_key() {
  {
    cat "$HERE/pom.xml"
    find "$HERE/src" -type f | LC_ALL=C sort | xargs cat
    "$JAVA" -version 2>&1
  } | sha256sum | cut -d' ' -f1
}

build_if_needed() {
  local key
  key=$(build_key)
  if [[ -f $JAR && -f $STAMP && $(cat "$STAMP") == "$key" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to build the server"
  say "building the server with Maven (the first build on a machine downloads Neo4j into ~/.m2)"
  rm -f "$STAMP" "$JSA"
  local out
  if ! out=$(cd "$HERE" && mvn -q -B package 2>&1); then
    printf '%s\n' "$out" >&2
    die "the Maven build failed (see above)"
  fi
  record_cds || say "warning: no class-data-sharing archive; starts will be a few seconds slower"
  echo "$key" >"$STAMP"
}

# One training start records the classes Neo4j loads into a class-data-sharing archive;
# later starts map it instead of loading and verifying them again (measured here on an idle
# 2-core machine: 4.8 s instead of 8.0 s from launch to a first answered query).
record_cds() {
  local tmp
  tmp=$(mktemp -d)
  say "recording a class-data-sharing archive for faster starts"
  if NEO4J_DEV_PASSWORD=training-run-only NEO4J_DEV_EXIT_WHEN_READY=1 timeout 300 \
    "$JAVA" -XX:ArchiveClassesAtExit="$JSA.tmp" -Xmx1g -jar "$JAR" "$tmp" 0 >"$tmp/training.log" 2>&1 &&
    [[ -s $JSA.tmp ]]; then
    mv -f "$JSA.tmp" "$JSA"
    rm -rf "$tmp"
    return 0
  fi
  tail -n 20 "$tmp/training.log" >&2 || true
  rm -rf "$tmp" "$JSA.tmp"
  return 1
}

# --- process ---------------------------------------------------------------------------

# A process that exists and is not a zombie (a server that died while this script, its
# parent, still runs stays a zombie until the script exits).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

# The pid in the pid file, if that process is our server for this data folder.
running_pid() {
  local pid args
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || ps -o args= -p "$pid" || true)
  [[ $args == *neo4j-dev-server.jar*" $DIR "* ]] || return 1
  echo "$pid"
}

# The Bolt port a running server was started with (the argument after the data folder).
running_port() {
  local -a args
  mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 0
  local i
  for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    if [[ ${args[i]} == "$DIR" ]]; then
      echo "${args[i + 1]}"
      return 0
    fi
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start() {
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  [[ -f $LOG ]] && mv -f "$LOG" "$LOG.1"
  # G1PeriodicGCInterval: an idle server hands heap grown by a big query back to the system.
  local -a jvm=(-Xmx"${NEO4J_HEAP:-1g}" -XX:+UseG1GC -XX:G1PeriodicGCInterval=30000
    -XX:+ExitOnOutOfMemoryError -Dfile.encoding=UTF-8)
  [[ -f $JSA ]] && jvm+=(-XX:SharedArchiveFile="$JSA" -Xlog:cds=off -Xlog:cds+dynamic=off)
  local -a settings=(
    "server.memory.pagecache.size=${NEO4J_PAGECACHE:-512m}"
    "db.memory.transaction.max=${NEO4J_TX_MAX:-256m}"
    "dbms.memory.transaction.total.max=${NEO4J_TX_TOTAL:-512m}"
  )
  local extra
  read -r -a extra <<<"${NEO4J_DEV_SETTINGS:-}"
  settings+=("${extra[@]}")
  say "starting Neo4j on 127.0.0.1:$PORT, data in $DIR"
  NEO4J_DEV_PASSWORD=$PASSWORD setsid nohup "$JAVA" "${jvm[@]}" -jar "$JAR" "$DIR" "$PORT" "${settings[@]}" \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
}

# --- Bolt ------------------------------------------------------------------------------

# Pythons to try for the Bolt check, the project venv first; one without the neo4j
# driver is dropped (exit 3), and with none left the check is a TCP connect.
PYTHONS=()
[[ -x $ROOT/.venv/bin/python ]] && PYTHONS+=("$ROOT/.venv/bin/python")
command -v python3 >/dev/null && PYTHONS+=(python3)

# 0: Bolt answers RETURN 1 with the password; 1: not yet; 2: it refuses the password.
bolt_answers() {
  local rc
  while ((${#PYTHONS[@]})); do
    rc=0
    NEO4J_PASSWORD=$PASSWORD "${PYTHONS[0]}" - "$URI" <<'EOF' || rc=$?
import os, sys
try:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError
except ImportError:
    sys.exit(3)
try:
    auth = ("neo4j", os.environ["NEO4J_PASSWORD"])
    with GraphDatabase.driver(sys.argv[1], auth=auth, connection_timeout=3) as driver:
        with driver.session() as session:
            session.run("RETURN 1").consume()
except AuthError as e:
    print(f"neo4j-dev: Bolt answers but refuses the password: {e.message}", file=sys.stderr)
    sys.exit(2)
except Exception:
    sys.exit(1)
EOF
    ((rc == 3)) || return "$rc"
    PYTHONS=("${PYTHONS[@]:1}")
  done
  port_in_use || return 1
  sleep 1
}

wait_ready() {
  local pid=$1 started_here=$2 timeout=${NEO4J_UP_TIMEOUT:-120} rc
  local deadline=$((SECONDS + timeout))
  while :; do
    if ! alive "$pid"; then
      rm -f "$PIDFILE"
      say "the server exited; the end of $LOG:"
      tail -n 30 "$LOG" >&2 || true
      die "Neo4j did not start"
    fi
    if grep -q '^neo4j-dev: ready' "$LOG" 2>/dev/null; then
      rc=0
      bolt_answers || rc=$?
      ((rc == 0)) && return 0
      if ((rc == 2)); then
        ((started_here)) && cmd_down
        die "the server in $DIR refuses the password; to change it: make neo4j-down, then NEO4J_PASSWORD=... make neo4j-up"
      fi
    fi
    if ((SECONDS >= deadline)); then
      say "Bolt did not answer on $URI within ${timeout}s; the end of $LOG:"
      tail -n 30 "$LOG" >&2 || true
      ((started_here)) && cmd_down
      die "Neo4j did not become ready (raise NEO4J_UP_TIMEOUT if the machine is just slow)"
    fi
    sleep 0.5
  done
}

resolve_password() {
  # shellcheck source=/dev/null
  if [[ -n ${NEO4J_PASSWORD:-} ]]; then
    PASSWORD=$NEO4J_PASSWORD
  elif [[ -f $ENVFILE ]] && PASSWORD=$(. "$ENVFILE" && printf %s "${NEO4J_PASSWORD:-}") && [[ -n $PASSWORD ]]; then
    :
  else
    PASSWORD=$(od -An -tx1 -N18 /dev/urandom | tr -d ' \n')
  fi
  ((${#PASSWORD} >= 8)) || die "NEO4J_PASSWORD needs at least 8 characters (Neo4j's minimum)"
}

assignments() {
  echo "NEO4J_URI=$URI"
  echo "NEO4J_USER=neo4j"
  printf 'NEO4J_PASSWORD=%q\n' "$PASSWORD"
}

# --- commands --------------------------------------------------------------------------

cmd_up() {
  local pid started_here=0 port
  resolve_password
  if pid=$(running_pid); then
    port=$(running_port "$pid")
    [[ -z $port || $port == "$PORT" ]] ||
      die "the server of $DIR runs on port $port, not $PORT; make neo4j-down first to move it"
    say "already running (pid $pid)"
  else
    rm -f "$PIDFILE"
    port_in_use && die "port $PORT is already taken by another program; choose another with NEO4J_PORT"
    build_if_needed
    start
    pid=$(<"$PIDFILE")
    started_here=1
  fi
  wait_ready "$pid" "$started_here"
  (umask 077 && assignments >"$ENVFILE")
  say "ready: pid $pid, connection in $ENVFILE"
  assignments
}

cmd_down() {
  local pid timeout=${NEO4J_DOWN_TIMEOUT:-60}
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    say "still running after ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.2; done
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "running: pid $pid, bolt://127.0.0.1:$(running_port "$pid"), data $DIR"
  else
    echo "not running (data $DIR)"
    return 3
  fi
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
