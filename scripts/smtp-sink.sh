#!/usr/bin/env bash
# A throwaway SMTP server for tests: Postfix's smtp-sink (Debian package `postfix`, nothing else
# of Postfix runs) on 127.0.0.1 on a free port, writing every message it receives to its own
# file under $SMTP_SINK_DIR/mail/. Never touches a system mail service.
#   eval "$(scripts/smtp-sink.sh start)"   prints SMTP_SINK_DIR=… and PRAXIS_TEST_SMTP_URL=…
#   scripts/smtp-sink.sh stop DIR
set -euo pipefail
bin=/usr/sbin/smtp-sink

case "${1:-}" in
start)
  [ -x "$bin" ] || { echo "smtp-sink.sh: $bin missing (apt-get install postfix)" >&2; exit 1; }
  dir=$(mktemp -d /tmp/praxis-smtp.XXXXXX)
  mkdir "$dir/mail"
  user_opt=()
  if [ "$(id -u)" -eq 0 ]; then
    # smtp-sink refuses to keep root privileges: it drops to -u after binding, and that user
    # writes the dump files.
    user_opt=(-u nobody)
    chmod 755 "$dir"
    chown nobody "$dir/mail"
  fi
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # -d: one file per message, named by strftime plus a random suffix; -t: command timeout (s).
  setsid "$bin" "${user_opt[@]}" -t 30 -d "$dir/mail/%Y%m%d%H%M%S." "127.0.0.1:$port" 64 \
    </dev/null >"$dir/sink.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "SMTP_SINK_DIR=$dir"
      echo "PRAXIS_TEST_SMTP_URL=smtp://127.0.0.1:$port"
      exit 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "smtp-sink.sh: smtp-sink did not start on port $port" >&2
  cat "$dir/sink.log" >&2
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -rf "$dir"
  exit 1
  ;;
stop)
  dir=${2:?usage: smtp-sink.sh stop DIR}
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  case "$dir" in /tmp/praxis-smtp.*) rm -rf "$dir" ;; esac
  ;;
*)
  echo "usage: smtp-sink.sh start | stop DIR" >&2; exit 2 ;;
esac
