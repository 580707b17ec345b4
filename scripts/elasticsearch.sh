#!/usr/bin/env bash
# The Elasticsearch test server: a real single-node Elasticsearch on 127.0.0.1.
#
#   scripts/elasticsearch.sh start  [VERSION]   download (once), configure, start, wait for health
#   scripts/elasticsearch.sh stop   [VERSION]   stop it (TERM, then KILL after 60 s)
#   scripts/elasticsearch.sh status [VERSION]   print state, version, URL; exit 1 when not running
#   scripts/elasticsearch.sh env    [VERSION]   print `export FLOWLAB_TEST_ES_...` lines for eval
#
# The distribution is Elastic's integration-test zip from Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:VERSION:zip: no bundled JDK, only
# the transport, x-pack-core and x-pack-security modules), fetched with the machine's `mvn` and
# unpacked once into the cache. The server runs as an unprivileged user (Elasticsearch refuses
# root), with security on (file-realm users `flowlab` = superuser and `flowlab_reader` = read
# only, random passwords kept 0600 in the state directory) and plain HTTP on loopback.
#
# Settings (environment):
#   FLOWLAB_ES_VERSION        default 9.2.8 when a JDK >= 21 exists, else 8.19.21 (arg 2 wins)
#   FLOWLAB_ES_PORT           HTTP port, default 9200 (transport port = HTTP port + 100)
#   FLOWLAB_ES_HEAP           JVM heap, default 512m
#   FLOWLAB_ES_CACHE          cache root; default /var/cache/flowlab/elasticsearch as root,
#                             else ${XDG_CACHE_HOME:-~/.cache}/flowlab/elasticsearch
#   FLOWLAB_ES_USER           system user that runs the server when started as root (flowlab-es)
#   FLOWLAB_ES_START_TIMEOUT  seconds to wait for a yellow cluster, default 300
#   ES_JAVA_HOME              JDK to use (else the best one under /usr/lib/jvm for the version)
# Tested versions: 9.2.8 (Temurin 25), 8.19.21 (OpenJDK 17), 7.17.29 (OpenJDK 17), and 7.10.2
# (OpenJDK 17; its zip has no security module, so it runs without authentication and `env`
# prints FLOWLAB_TEST_ES_SECURITY=off).
set -euo pipefail

cmd="${1:-}"
ES_PORT="${FLOWLAB_ES_PORT:-9200}"
ES_HEAP="${FLOWLAB_ES_HEAP:-512m}"
ES_USER="${FLOWLAB_ES_USER:-flowlab-es}"
START_TIMEOUT="${FLOWLAB_ES_START_TIMEOUT:-300}"
if [ "$(id -u)" -eq 0 ]; then
  CACHE="${FLOWLAB_ES_CACHE:-/var/cache/flowlab/elasticsearch}"
else
  CACHE="${FLOWLAB_ES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flowlab/elasticsearch}"
fi
CURRENT="$CACHE/run/current-$ES_PORT"   # which version runs (or ran last) on this port

die() { echo "elasticsearch.sh: $*" >&2; exit 1; }
log() { echo "elasticsearch.sh: $*" >&2; }

java_major() {  # JDK home -> major version ("" when not a JDK)
  local rel="$1/release"
  [ -x "$1/bin/java" ] && [ -f "$rel" ] || return 0
  sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel" | head -n1
}

find_jdk() {  # $1 min major, $2 max major, $3 prefer: high|low -> JDK home
  local min="$1" max="$2" prefer="$3" best="" best_major="" home major
  if [ -n "${ES_JAVA_HOME:-}" ]; then
    major="$(java_major "$ES_JAVA_HOME")"
    if [ -n "$major" ] && [ "$major" -ge "$min" ] && [ "$major" -le "$max" ]; then
      echo "$ES_JAVA_HOME"; return 0
    fi
    log "ES_JAVA_HOME=$ES_JAVA_HOME is Java '${major:-?}', need $min..$max; looking in /usr/lib/jvm"
  fi
  for home in /usr/lib/jvm/*; do
    [ -L "$home" ] && continue
    major="$(java_major "$home")"
    [ -n "$major" ] && [ "$major" -ge "$min" ] && [ "$major" -le "$max" ] || continue
    if [ -z "$best" ] || { [ "$prefer" = high ] && [ "$major" -gt "$best_major" ]; } ||
      { [ "$prefer" = low ] && [ "$major" -lt "$best_major" ]; }; then
      best="$home"; best_major="$major"
    fi
  done
  echo "$best"
}

default_version() {
  if [ -n "$(find_jdk 21 99 high)" ]; then echo 9.2.8; else echo 8.19.21; fi
}

# Version: explicit argument, else FLOWLAB_ES_VERSION, else (stop/status/env) the one that runs on
# this port, else the default.
if [ -n "${2:-}" ]; then
  VERSION="$2"
elif [ -n "${FLOWLAB_ES_VERSION:-}" ]; then
  VERSION="$FLOWLAB_ES_VERSION"
elif [ "$cmd" != start ] && [ -f "$CURRENT" ]; then
  VERSION="$(cat "$CURRENT")"
else
  VERSION="$(default_version)"
fi
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like 9.2.8, got '$VERSION'"
MAJOR="${VERSION%%.*}"
DIST="$CACHE/dist/elasticsearch-$VERSION"
RUN="$CACHE/run/$VERSION-$ES_PORT"
URL="http://127.0.0.1:$ES_PORT"

pid_alive() { [ -f "$RUN/es.pid" ] && kill -0 "$(cat "$RUN/es.pid")" 2>/dev/null; }

password() { cat "$RUN/credentials/$1"; }

health() {  # prints the cluster status word or nothing
  if [ -f "$RUN/no-security" ]; then
    curl -s -m 5 "$URL/_cluster/health" 2>/dev/null | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
    return 0
  fi
  printf 'user = "flowlab:%s"\n' "$(password flowlab)" |
    curl -s -m 5 --config - "$URL/_cluster/health" 2>/dev/null |
    sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}

fetch_dist() {
  [ -x "$DIST/bin/elasticsearch" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to download Elasticsearch; apt-get install maven"
  command -v unzip >/dev/null || die "unzip is needed; apt-get install unzip"
  local artifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION:zip"
  local tmp; tmp="$(mktemp -d "$CACHE/.download.XXXXXX")"
  log "downloading $artifact from Maven Central (once; cached in $CACHE)"
  if ! mvn -B -q dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp" -Dmdep.overWriteReleases=true >"$tmp/mvn.log" 2>&1; then
    tail -n 20 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not fetch $artifact (is $VERSION published as an integ-test-zip?)"
  fi
  unzip -q "$tmp/elasticsearch-$VERSION.zip" -d "$tmp/x"
  chmod -R a+rX "$tmp/x"
  mkdir -p "$CACHE/dist"
  rm -rf "$DIST"
  mv "$tmp/x/elasticsearch-$VERSION" "$DIST"
  rm -rf "$tmp"
}

as_es() {  # run a command as the Elasticsearch user
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$ES_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$ES_USER" >/dev/null 2>&1 && return 0
  log "creating system user $ES_USER"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
}

legacy_java_home() {  # Elasticsearch before 7.12 reads JAVA_HOME, not ES_JAVA_HOME
  if [ "$MAJOR" -lt 8 ]; then echo "JAVA_HOME=$1"; fi
}

has_security() { [ -d "$DIST/modules/x-pack-security" ]; }

configure() {
  [ -f "$RUN/config/elasticsearch.yml.flowlab" ] && return 0
  log "configuring $RUN"
  rm -rf "$RUN"
  mkdir -p "$RUN/data" "$RUN/logs" "$RUN/tmp" "$RUN/credentials"
  cp -r "$DIST/config" "$RUN/config"
  # jvm.options names gc.log, hs_err files and heap dumps relative to ES_HOME (read-only here).
  sed -i -e "s|file=logs/gc.log|file=$RUN/logs/gc.log|" -e "s|HeapDumpPath=data|HeapDumpPath=$RUN/data|" \
    -e "s|ErrorFile=logs/|ErrorFile=$RUN/logs/|" "$RUN/config/jvm.options"
  cat >"$RUN/config/elasticsearch.yml" <<EOF
cluster.name: flowlab-test
node.name: flowlab-test-$ES_PORT
path.data: $RUN/data
path.logs: $RUN/logs
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $((ES_PORT + 100))
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  if ! has_security; then
    log "this distribution has no security module: the server runs without authentication"
    touch "$RUN/config/elasticsearch.yml.flowlab" "$RUN/no-security"
    if [ "$(id -u)" -eq 0 ]; then chown -R "$ES_USER" "$RUN"; fi
    return 0
  fi
  cat >>"$RUN/config/elasticsearch.yml" <<EOF
xpack.security.enabled: true
xpack.security.http.ssl.enabled: false
xpack.security.transport.ssl.enabled: false
xpack.security.authc.realms.file.file1.order: 0
EOF
  cat >>"$RUN/config/roles.yml" <<'EOF'

flowlab_read_only:
  cluster: [monitor]
  indices:
    - names: ["*"]
      privileges: [read, view_index_metadata, monitor]
EOF
  touch "$RUN/config/elasticsearch.yml.flowlab"
  if [ "$(id -u)" -eq 0 ]; then chown -R "$ES_USER" "$RUN"; fi
  (umask 077; for u in flowlab flowlab_reader; do
     head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 >"$RUN/credentials/$u"
   done)
  if [ "$(id -u)" -eq 0 ]; then chown -R root:root "$RUN/credentials"; chmod 700 "$RUN/credentials"; fi
  local java; java="$(jdk_for_version)"
  as_es env ES_JAVA_HOME="$java" $(legacy_java_home "$java") ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp" \
    "$DIST/bin/elasticsearch-users" useradd flowlab -p "$(password flowlab)" -r superuser >/dev/null 2>&1
  as_es env ES_JAVA_HOME="$java" $(legacy_java_home "$java") ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp" \
    "$DIST/bin/elasticsearch-users" useradd flowlab_reader -p "$(password flowlab_reader)" -r flowlab_read_only >/dev/null 2>&1
}

jdk_for_version() {
  local java
  if [ "$MAJOR" -ge 9 ]; then
    java="$(find_jdk 21 99 high)"
  elif [ "$MAJOR" -eq 8 ]; then
    java="$(find_jdk 17 21 low)"
  else
    java="$(find_jdk 11 17 high)"
  fi
  [ -n "$java" ] || die "no suitable JDK for Elasticsearch $VERSION under /usr/lib/jvm (9.x needs 21+, 8.x 17..21, 7.17 11..17); set ES_JAVA_HOME"
  echo "$java"
}

start() {
  if pid_alive; then
    log "Elasticsearch $VERSION already runs on $URL (pid $(cat "$RUN/es.pid"))"
    return 0
  fi
  if [ -f "$CURRENT" ] && [ "$(cat "$CURRENT")" != "$VERSION" ]; then
    local other; other="$CACHE/run/$(cat "$CURRENT")-$ES_PORT"
    if [ -f "$other/es.pid" ] && kill -0 "$(cat "$other/es.pid")" 2>/dev/null; then
      die "Elasticsearch $(cat "$CURRENT") already runs on port $ES_PORT; stop it first"
    fi
  fi
  if curl -s -m 2 -o /dev/null "$URL" 2>/dev/null; then
    die "something else already answers on $URL; choose another FLOWLAB_ES_PORT"
  fi
  mkdir -p "$CACHE/run"
  chmod 755 "$CACHE" "$CACHE/run" 2>/dev/null || true
  fetch_dist
  ensure_user
  configure
  local java; java="$(jdk_for_version)"
  echo "$VERSION" >"$CURRENT"
  rm -f "$RUN/es.pid"
  log "starting Elasticsearch $VERSION on $URL (heap $ES_HEAP, Java $(java_major "$java") at $java)"
  (cd "$RUN" && as_es env ES_JAVA_HOME="$java" $(legacy_java_home "$java") ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp" \
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
    "$DIST/bin/elasticsearch" -d -p "$RUN/es.pid" >"$RUN/start.log" 2>&1) || {
    cat "$RUN/start.log" >&2
    tail -n 40 "$RUN/logs/flowlab-test.log" 2>/dev/null >&2 || true
    die "Elasticsearch $VERSION failed to start (logs: $RUN/logs)"
  }
  local waited=0 status=""
  while [ "$waited" -lt "$START_TIMEOUT" ]; do
    status="$(health || true)"
    if [ "$status" = green ] || [ "$status" = yellow ]; then
      log "Elasticsearch $VERSION is up on $URL (cluster $status after ${waited}s)"
      return 0
    fi
    if [ -f "$RUN/es.pid" ] && ! pid_alive; then break; fi
    sleep 2
    waited=$((waited + 2))
  done
  tail -n 40 "$RUN/logs/flowlab-test.log" >&2 2>/dev/null || true
  stop || true
  die "Elasticsearch $VERSION did not become healthy on $URL within ${START_TIMEOUT}s (logs: $RUN/logs)"
}

stop() {
  if ! pid_alive; then
    log "Elasticsearch $VERSION is not running on port $ES_PORT"
    rm -f "$RUN/es.pid"
    return 0
  fi
  local pid; pid="$(cat "$RUN/es.pid")"
  kill -TERM "$pid"
  local i
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { log "stopped Elasticsearch $VERSION (pid $pid)"; rm -f "$RUN/es.pid"; return 0; }
    sleep 1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/es.pid"
  log "killed Elasticsearch $VERSION (pid $pid) after 60 s"
}

status() {
  if pid_alive; then
    echo "running: Elasticsearch $VERSION on $URL (pid $(cat "$RUN/es.pid"), cluster $(health || echo '?'))"
  else
    echo "stopped: Elasticsearch $VERSION on port $ES_PORT"
    return 1
  fi
}

env_lines() {
  if [ -f "$RUN/no-security" ]; then
    echo "export FLOWLAB_TEST_ES_URL=$URL"
    echo "export FLOWLAB_TEST_ES_VERSION=$VERSION"
    echo "export FLOWLAB_TEST_ES_SECURITY=off"
    return 0
  fi
  [ -f "$RUN/credentials/flowlab" ] || die "no server configured for $VERSION on port $ES_PORT; run: $0 start $VERSION"
  echo "export FLOWLAB_TEST_ES_URL=$URL"
  echo "export FLOWLAB_TEST_ES_USERNAME=flowlab"
  echo "export FLOWLAB_TEST_ES_PASSWORD=$(password flowlab)"
  echo "export FLOWLAB_TEST_ES_READER_USERNAME=flowlab_reader"
  echo "export FLOWLAB_TEST_ES_READER_PASSWORD=$(password flowlab_reader)"
  echo "export FLOWLAB_TEST_ES_VERSION=$VERSION"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  *) die "usage: $0 start|stop|status|env [VERSION]" ;;
esac
