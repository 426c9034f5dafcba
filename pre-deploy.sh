#!/bin/sh
# pre-deploy.sh - wait for the Releaser to run this commit's release step, showing its output.
#
# Use as a Railway pre-deploy command of every service that depends on the release:
#   RELEASER_URL=http://releaser.railway.internal:8080 ./pre-deploy.sh [<sha>]
#
# It asks the releaser for the commit's release (POST /queue, never with "retry"), reads it once
# (GET /release) to print how long the wait may take at most (from RELEASE_TIMEOUT_MS and the
# queue position: set a Railway Pre-deploy Timeout above it, or none), then long-polls
# GET /release/logs until that attempt is final, printing its output as it arrives.
# POSIX sh (dash, busybox ash, bash); no jq. HTTP through curl, else wget (GNU or busybox),
# else bash's /dev/tcp (plain http:// only). wget and bash run under `timeout` (coreutils or
# busybox), or a watchdog where there is none; curl bounds a request itself.
#
# Arguments and variables:
#   <sha>                   full commit SHA (40 or 64 hex digits); default RAILWAY_GIT_COMMIT_SHA,
#                           which Railway sets only for deploys triggered from GitHub
#   RELEASER_URL            required; the releaser's base URL, http(s)://host[:port][/prefix]
#   RELEASER_API_KEY        optional; sent as "Authorization: Bearer <key>", never printed. It stays
#                           out of process arguments, except with busybox wget, which can only
#                           take it on its command line
#   RELEASER_WAIT_TIMEOUT   seconds the releaser may be unreachable in all (no answer, DNS not
#                           ready, 408, 429, 502-504, another 5xx with the releaser's JSON
#                           error); default 600. While it answers and reports the release queued
#                           or running, the script keeps waiting
#   RELEASER_REQUEST_TIMEOUT  seconds one HTTP request may take in all; default 60. A long-poll
#                           asks the releaser to answer within half of it (30 s at most)
#   RELEASER_HTTP_CLIENT    optional; force curl, wget or bash instead of the first one found
#   RAILWAY_SERVICE_NAME, RAILWAY_DEPLOYMENT_ID  set by Railway; sent (when printable) as the
#                           headers X-Requested-By and X-Deployment-Id, so the releaser can
#                           record who asked
#
# Pauses: an answer's Retry-After (whole seconds, at most 10) delays the next request that long;
# a log answer that brings nothing new before the releaser held it 2 s is followed after 1 s;
# an unreachable releaser is asked again after 1, 2, 4, 8, then 10 s.
#
# Exit status:
#   0  the release succeeded (now, or already before)
#   1  the release failed, timed out or was cancelled (the reason and its output are printed)
#   2  usage or configuration error: no SHA or a malformed one; no URL, or one without http(s)://,
#      host or port; a bad RELEASER_WAIT_TIMEOUT or RELEASER_REQUEST_TIMEOUT; a control character
#      in the key; no HTTP client, or the forced one not installed; or an answer waiting cannot
#      fix: 400, 401/403 (no key, or a refused one), another status the releaser does not give
#      while busy, or an answer that is not the releaser's at all ("RELEASER_URL is not a
#      releaser": e.g. a 200 without its JSON "state" or X-Release-State header)
#   3  gave up: releaser unreachable past RELEASER_WAIT_TIMEOUT, or the release record vanished
#      (a 404 with the releaser's JSON error)
set -u

TAIL_LINES=40             # lines of output shown for a release that was already final

open_line=''               # set while the release output printed last lacks its final newline
say() { [ -z "$open_line" ] || { echo; open_line=''; }; printf '[pre-deploy] %s\n' "$*"; }
die() { code=$1; shift; [ -z "$open_line" ] || echo; printf '[pre-deploy] %s\n' "$*" >&2; exit "$code"; }
show() { [ -s "$1" ] || return 0; cat "$1"; open_line=$(tail -c 1 "$1"); }  # release output
now() { date +%s; }
curl_quote() { printf '%s' "$1" | sed 's/[\\"]/\\&/g'; }  # for a "..." value in curl's config
NL='
'
is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

usage() {
  cat <<'EOF'
usage: pre-deploy.sh [<commit-sha>]
Asks the Releaser (RELEASER_URL) to run the release step of the commit (default
$RAILWAY_GIT_COMMIT_SHA) and waits until it is final, printing its output.
Variables: RELEASER_URL (required), RELEASER_API_KEY, RELEASER_WAIT_TIMEOUT (default 600 s),
RELEASER_REQUEST_TIMEOUT (default 60 s), RELEASER_HTTP_CLIENT (curl, wget or bash).
Exit: 0 succeeded, 1 failed/timed out/cancelled, 2 usage or configuration error, 3 gave up.
EOF
}

# json_get KEY FILE: the first "KEY" member of a JSON object: strings unescaped, null as nothing.
json_get() {
  LC_ALL=C awk -v k="$1" '
    function hex(h,  i, n) { n = 0; h = tolower(h)
      for (i = 1; i <= 4; i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
      return n }
    function utf8(n) {
      if (n < 1) return ""
      if (n < 128) return sprintf("%c", n)
      if (n < 2048) return sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
      if (n < 65536) return sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
      return sprintf("%c%c%c%c", 240 + int(n / 262144), 128 + int(n / 4096) % 64, 128 + int(n / 64) % 64, 128 + n % 64) }
    { s = s $0 "\n" }
    END {
      if (!match(s, "[{,][ \t\r\n]*\"" k "\"[ \t\r\n]*:[ \t\r\n]*")) exit
      s = substr(s, RSTART + RLENGTH)
      if (substr(s, 1, 1) != "\"") { sub(/[ \t\r\n]*[],}].*/, "", s); if (s != "null") printf "%s", s; exit }
      for (i = 2; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\"") break
        if (c == "\\") {
          c = substr(s, ++i, 1)
          if (c == "n") c = "\n"; else if (c == "t") c = "\t"; else if (c ~ /[rbf]/) c = " "
          else if (c == "u") {
            n = hex(substr(s, i + 1, 4)); i += 4
            if (n >= 55296 && n < 56320 && substr(s, i + 1, 2) == "\\u") {
              n = 65536 + (n - 55296) * 1024 + hex(substr(s, i + 3, 4)) - 56320; i += 6 }
            c = utf8(n) } }
        out = out c }
      printf "%s", out }' "$2"
}

# read_answer: one pass over the headers of the last answer in $H sets status (its HTTP status)
# and the headers this script reads: h_length, h_type, h_state, h_offset, h_start, h_attempt,
# h_retry, h_skipped.
read_answer() {
  status='' h_length='' h_type='' h_state='' h_offset='' h_start='' h_attempt='' h_retry='' h_skipped=''
  eval "$(LC_ALL=C awk 'function q(v,  out, i) { out = ""; v = substr(v, 1, 200)  # ours are short
      while ((i = index(v, sq))) { out = out substr(v, 1, i - 1) sq "\\" sq sq; v = substr(v, i + 1) }
      return sq out v sq }
    BEGIN { sq = sprintf("%c", 39) }
    { sub(/^[ \t]+/, ""); sub(/\r$/, "") }
    /^HTTP\/[0-9.]+ [0-9][0-9][0-9]/ { s = $2; len = ty = st = off = start = att = ra = sk = ""; next }
    { i = index($0, ":"); if (!i) next
      n = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
      if (n == "content-length") len = v; else if (n == "content-type") ty = tolower(v)
      else if (n == "x-release-state") st = v
      else if (n == "x-log-offset") off = v; else if (n == "x-log-start") start = v
      else if (n == "x-release-attempt") att = v; else if (n == "retry-after") ra = v
      else if (n == "x-release-skipped") sk = v }
    END { printf "status=%s h_length=%s h_type=%s h_state=%s h_offset=%s h_start=%s h_attempt=%s h_retry=%s h_skipped=%s\n",
            q(s), q(len), q(ty), q(st), q(off), q(start), q(att), q(ra), q(sk) }' "$H")"
}
complaints() { awk 'NF { sub(/^bash: (line [0-9]+: )?/, ""); printf "%s%s", s, $0; s = "; " }' "$@"; }  # of a client

# with_timeout CMD...: CMD, ended after MAXT seconds (status 124, or 143 from busybox's timeout).
# Without a timeout command a watchdog subshell ends it (status 143).
with_timeout() {
  if [ -n "$TIMEOUT_CMD" ]; then timeout "$MAXT" "$@"; return; fi
  "$@" &
  cpid=$!
  (
    spid=''
    trap '[ -z "$spid" ] || kill "$spid" 2>/dev/null; exit 0' TERM
    sleep "$MAXT" &
    spid=$!
    wait "$spid" && kill "$cpid" 2>/dev/null
  ) &
  wpid=$!
  wait "$cpid"; crc=$?
  kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
  return "$crc"
}

# --- One request per HTTP client: http_<client> URL [JSON_BODY] -> headers in $H, body in $B ---
http_curl() {
  url=$1
  if [ -n "${2:-}" ]; then set -- -H 'Content-Type: application/json' --data-binary "$2"; else set --; fi
  # The key reaches curl as a config file on standard input (printf is a shell builtin).
  printf '%s' "$CURL_CONFIG" |
    curl -sS -K - --connect-timeout 10 --max-time "$MAXT" -D "$H" -o "$B" "$@" "$url" 2>"$E"
}
http_gnuwget() {  # the key is in a private wgetrc file; error bodies kept with --content-on-error
  url=$1
  if [ -n "${2:-}" ]; then set -- --header='Content-Type: application/json' --post-data="$2"; else set --; fi
  # --timeout bounds each read, not the request: with_timeout bounds the whole of it.
  WGETRC=$T/wgetrc with_timeout wget -nv -S --content-on-error --tries=1 --max-redirect=0 \
    --timeout="$MAXT" -O "$B" "$@" "$url" 2>"$H"
}
http_bbwget() {   # busybox wget: no body on error statuses, the key only as an argument
  url=$1
  if [ -n "${2:-}" ]; then set -- --header 'Content-Type: application/json' --post-data "$2"; else set --; fi
  [ -z "$KEY" ] || set -- "$@" --header "Authorization: Bearer $KEY"
  [ -z "$BY" ] || set -- "$@" --header "X-Requested-By: $BY"
  [ -z "$DEPLOYMENT" ] || set -- "$@" --header "X-Deployment-Id: $DEPLOYMENT"
  with_timeout wget -q -S -O "$B" "$@" "$url" 2>"$H"
}
# bash /dev/tcp, HTTP/1.0 so the server closes the connection after its answer; the key comes from
# the environment. Arguments: host port host-header path body headers-file body-file read-timeout
# requested-by deployment-id.
# shellcheck disable=SC2016
BASH_HTTP='exec 3<>"/dev/tcp/$1/$2" || exit 7
printf -v cr "\r"
m=GET; [ -z "$5" ] || m=POST
{ printf "%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: pre-deploy.sh\r\nConnection: close\r\n" "$m" "$4" "$3"
  [ -z "${RELEASER_API_KEY:-}" ] || printf "Authorization: Bearer %s\r\n" "$RELEASER_API_KEY"
  [ -z "$9" ] || printf "X-Requested-By: %s\r\n" "$9"
  [ -z "${10}" ] || printf "X-Deployment-Id: %s\r\n" "${10}"
  [ -z "$5" ] || printf "Content-Type: application/json\r\nContent-Length: %s\r\n" "${#5}"
  printf "\r\n%s" "$5"; } >&3 || exit 7
while IFS= read -r -t "$8" l; do l=${l%"$cr"}; [ -n "$l" ] || break; printf "%s\n" "$l"; done <&3 >"$6"
cat <&3 >"$7"'
http_bash() {
  with_timeout bash -c "$BASH_HTTP" bash "$TCP_HOST" "$TCP_PORT" "$HOST_HDR" "$PREFIX${1#"$BASE"}" \
    "${2:-}" "$H" "$B" "$MAXT" "$BY" "$DEPLOYMENT" 2>"$E"
}
# GNU wget never keeps the body of a 401 (even with --content-on-error); when it reads it to
# keep the connection its debug log shows it. So on a 401 it asks again with a GET (after a
# refused POST the releaser closes the connection unread) and takes the body from that log. The
# log also holds the request's headers, the key among them: it stays in the private folder.
gnuwget_401_body() {
  WGETRC=$T/wgetrc with_timeout wget -d -nv --tries=1 --max-redirect=0 --timeout="$MAXT" \
    -O /dev/null "$BASE/release?commit-sha=$SHA" 2>"$T/debug"
  awk '!on && /^Skipping [0-9]+ bytes of body: \[/ { sub(/^Skipping [0-9]+ bytes of body: \[/, ""); on = 1 }
    on { if (sub(/\] done\.$/, "")) { print; exit } print }' "$T/debug" >"$B"
  rm -f "$T/debug"
}

# request PATH [JSON_BODY]: sets $status, retrying with backoff (1, 2, 4, 8, 10, 10 ... s) while
# the releaser is unreachable: no answer, 408, 429, 502-504, or another 5xx with the releaser's
# JSON error; exits 3 once that added up to RELEASER_WAIT_TIMEOUT. Before each request it pauses
# as long as $pause says (set by a Retry-After or by a caller), then sets $pause to the answer's
# Retry-After (whole seconds, at most 10).
down_total=0 down_since='' delay=1 pause=0
request() {
  while :; do
    [ "$pause" -eq 0 ] || sleep "$pause"
    pause=0
    t0=$(now)
    : >"$H"; : >"$B"; : >"$E"
    why='' rc=0
    case $CLIENT in  # curl also fails on an answer cut short of its Content-Length
      curl) http_curl "$BASE$1" "${2:-}" || { rc=$?; why=$(complaints "$E"); why=${why:-curl failed}; } ;;
      gnuwget) http_gnuwget "$BASE$1" "${2:-}" || rc=$? ;;
      bbwget) http_bbwget "$BASE$1" "${2:-}" || rc=$? ;;
      bash) http_bash "$BASE$1" "${2:-}" || rc=$? ;;
    esac
    case $CLIENT.$rc in
      curl.*) ;;
      *.124 | *.143) why="no whole answer within ${MAXT}s (RELEASER_REQUEST_TIMEOUT)" ;;
    esac
    read_answer
    case $status in 2??) is_uint "$h_length" || h_length='' ;; *) h_length='' ;; esac  # busybox wget drops error bodies
    if [ "$CLIENT" != curl ] && [ -n "$h_length" ] && [ "$h_length" -ne "$(wc -c <"$B")" ]; then
      why=${why:-answer cut short}
    fi
    [ -z "$why" ] || status=''
    if is_uint "$h_retry"; then  # whole seconds (an HTTP date is ignored), at most 10
      case ${#h_retry} in 1 | 2) pause=${h_retry#0}; pause=${pause:-0} ;; *) pause=10 ;; esac
      [ "$pause" -le 10 ] || pause=10
    fi
    case $status in
      408 | 429 | 502 | 503 | 504) why="HTTP $status$(err=$(json_get error "$B"); [ -z "$err" ] || printf ': %s' "$err")" ;;
      5??) releaser_json || return 0  # not the releaser's: the caller says so
           why="HTTP $status$(err=$(json_get error "$B"); [ -z "$err" ] || printf ': %s' "$err")" ;;
      '') why=${why:-$(complaints "$E" "$H")}; why=${why:-no answer} ;;
      *) [ -z "$down_since" ] || down_total=$((down_total + t0 - down_since))
         down_since='' delay=1; return 0 ;;
    esac
    [ -n "$down_since" ] || down_since=$t0
    spent=$((down_total + $(now) - down_since)); left=$((WAIT_TIMEOUT - spent))
    [ "$left" -gt 0 ] || die 3 "giving up: the releaser at $BASE was unreachable for ${spent}s" \
      "(RELEASER_WAIT_TIMEOUT=$WAIT_TIMEOUT); last error: $why"
    [ "$pause" -le "$delay" ] || delay=$pause  # the answer's Retry-After, if longer
    [ "$delay" -le "$left" ] || delay=$left
    say "releaser not reachable ($why); retrying in ${delay}s"
    sleep "$delay"
    pause=0 delay=$((delay * 2)); [ "$delay" -le 10 ] || delay=10
  done
}

# releaser_json: the last answer is one of the releaser's JSON errors: its body has an "error"
# member; or GNU wget dropped the body (of a 401) of a JSON answer; or busybox wget, which keeps
# nothing of an error answer but its status line, finds the releaser's /healthcheck there.
releaser_json() {
  [ -z "$(json_get error "$B")" ] || return 0
  [ ! -s "$B" ] || return 1
  case $CLIENT in
    gnuwget) case $h_type in application/json*) return 0 ;; esac; return 1 ;;
    bbwget) bbwget_finds_releaser ;;
    *) return 1 ;;
  esac
}
bb_releaser=''
bbwget_finds_releaser() {  # asked once; no answer at all counts as a yes, for this time only
  [ -z "$bb_releaser" ] || { [ "$bb_releaser" = yes ]; return; }
  saved=$status
  : >"$H"; : >"$B"
  http_bbwget "$BASE/healthcheck"
  read_answer
  case $status in
    200) if [ -n "$(json_get status "$B")" ]; then bb_releaser=yes; else bb_releaser=no; fi ;;
    '' | 5??) ;;
    *) bb_releaser=no ;;
  esac
  status=$saved; : >"$B"
  [ "$bb_releaser" != no ]
}

not_releaser() {  # $1 answered what no releaser answers
  die 2 "RELEASER_URL is not a releaser: $BASE answered $1; check RELEASER_URL"
}

fail_fast() {  # the answer to $1 was one that waiting cannot fix
  [ "$status$CLIENT" != 401gnuwget ] || [ -s "$B" ] || gnuwget_401_body
  err=$(json_get error "$B")
  case $status in
    401 | 403) releaser_json || not_releaser "HTTP $status to $1"
               [ -n "$KEY" ] || die 2 "the releaser requires an API key (HTTP $status)${err:+: $err};" \
                 "RELEASER_API_KEY is not set"
               die 2 "the releaser refused the API key (HTTP $status)${err:+: $err}; check RELEASER_API_KEY" ;;
    400) releaser_json || not_releaser "HTTP 400 to $1"
         die 2 "the releaser rejected the request (HTTP 400)${err:+: $err}" ;;
    *) releaser_json || not_releaser "HTTP $status to $1"
       die 2 "unexpected HTTP $status from $1 at $BASE${err:+: $err}" ;;
  esac
}

vanished_or_fail() {  # a 404 to $1: the releaser lost the record, or $1 reached something else
  releaser_json || fail_fast "$1"
  die 3 "the release record of $SHA vanished from the releaser; not queuing it again"
}

release_info() {  # GET /release: sets r_state r_error r_attempt
  request "/release?commit-sha=$SHA"
  case $status in
    200) ;;
    404) vanished_or_fail "GET /release" ;;
    *) fail_fast "GET /release" ;;
  esac
  r_state=$(json_get state "$B") r_error=$(json_get error "$B") r_attempt=$(json_get attempt "$B")
  [ -n "$r_state" ] || not_releaser "GET /release with HTTP 200 but no JSON \"state\""
}

queue() {  # POST /queue; returns to follow the release, or exits when it is already final
  request /queue "{\"commitSha\":\"$SHA\"}"
  state=$(json_get state "$B") msg=$(json_get message "$B")
  case $status in
    200 | 202) [ -n "$state" ] || not_releaser "POST /queue with HTTP $status but no JSON \"state\""
               [ "$state" != success ] || succeeded "${msg:-release for $SHA already succeeded}" check
               say "${msg:-release for $SHA requested} (state: $state)" ;;
    409) if [ -z "$state" ]; then  # busybox wget drops error bodies
           releaser_json || not_releaser "POST /queue with HTTP 409 but no JSON \"state\""
           release_info; state=$r_state
         fi
         case $state in
           failed | timeout | cancelled) already_final "$state" ;;
           *) say "release for $SHA is already $state; waiting for it" ;;
         esac ;;
    *) fail_fast "POST /queue" ;;
  esac
}

already_final() {  # the commit's latest attempt ended badly before we came: report it, exit 1
  release_info
  request "/release/logs?commit-sha=$SHA"
  if [ "$status" = 200 ] && [ -s "$B" ]; then
    say "last lines of its output:"; tail -n "$TAIL_LINES" "$B" >"$E"; show "$E"
  fi
  say "release for $SHA already ended: $1${r_error:+: $r_error}"
  say "not re-running it: an operator retries a release (\"retry\": true) after fixing the cause"
  exit 1
}

# duration SECONDS: for people, rounded up: "45 s", "30 min", "1.5 h".
duration() {
  awk -v s="$1" 'BEGIN {
    if (s < 60) { printf "%d s", s; exit }
    if (s < 3600) { printf "%d min", int((s + 59) / 60); exit }
    h = int((s + 359) / 360) / 10; printf "%s h", h }'
}

# epoch ISO-TIME: seconds since 1970 of "2026-11-28T12:00:00.000Z" (UTC), or nothing.
epoch() {
  printf '%s\n' "$1" | awk -F'[-T:.Z]' 'NF >= 6 && $1 ~ /^[0-9]+$/ {
    y = $1 - ($2 <= 2); era = int(y / 400); yoe = y - era * 400
    doy = int((153 * ($2 + ($2 > 2 ? -3 : 9)) + 2) / 5) + $3 - 1
    days = era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
    printf "%d", days * 86400 + $4 * 3600 + $5 * 60 + $6 }'
}

limits() {  # GET /release once, as waiting starts: print how long the wait may last at most
  release_info
  ms=$(json_get timeout_ms "$B") position=$(json_get queue_position "$B")
  is_uint "$ms" || return 0  # a releaser older than details.timeout_ms
  per=$(((ms + 999) / 1000))
  unreachable=", plus up to $(duration "$WAIT_TIMEOUT") while the releaser is unreachable"
  unreachable="$unreachable (RELEASER_WAIT_TIMEOUT); a Pre-deploy Timeout set on this service must be longer"
  case $r_state in
    running)
      started=$(epoch "$(json_get started_at "$B")") ran=0
      if is_uint "$started" && [ "$(now)" -gt "$started" ]; then ran=$(($(now) - started)); fi
      [ "$ran" -le "$per" ] || ran=$per
      ran_for=''; [ "$ran" -lt 60 ] || ran_for=" for $(duration "$ran")"
      say "release is running$ran_for: this may take up to $(duration $((per - ran)))" \
        "(RELEASE_TIMEOUT_MS $(duration "$per"))$unreachable" ;;
    queued)
      is_uint "$position" || return 0
      say "release is queued (position $position): this may take up to" \
        "$(duration $(((position + 1) * per))) ($((position + 1)) × RELEASE_TIMEOUT_MS" \
        "$(duration "$per"))$unreachable" ;;
  esac
}

follow() {  # long-poll the logs of one attempt until it is final, printing new output
  offset=0 attempt='' prev=''
  while :; do
    q="commit-sha=$SHA&offset=$offset&wait=$WAIT${attempt:+&attempt=$attempt}"
    request "/release/logs?$q"
    case $status in
      200) ;;
      404) vanished_or_fail "GET /release/logs" ;;
      *) fail_fast "GET /release/logs" ;;
    esac
    state=$h_state next=$h_offset start=$h_start
    [ -n "$state" ] || not_releaser "GET /release/logs with HTTP 200 but no X-Release-State header"
    [ -n "$attempt" ] || { attempt=$h_attempt; is_uint "$attempt" || attempt=''; }
    [ "$state" = "$prev" ] || case $state in queued | running) say "release is $state (attempt ${attempt:-?})" ;; esac
    prev=$state
    if is_uint "$start" && [ "$start" -gt "$offset" ]; then say "(output before byte $start was dropped by the releaser)"; fi
    size=$h_length; [ -n "$size" ] || { size=$(wc -c <"$B"); size=$((size + 0)); }
    show "$B"
    is_uint "$next" || next=$((offset + size))
    case $state in
      success | failed | timeout | cancelled) return 0 ;;  # a final answer holds all the rest
    esac
    # Ask again at once only after new output, or after the releaser held the long-poll;
    # else (an early answer) pause a second, or as long as its Retry-After said.
    if [ "$size" -eq 0 ] || [ "$next" -le "$offset" ]; then
      [ "$pause" -gt 0 ] || [ $(($(now) - t0)) -ge 2 ] || pause=1
    fi
    offset=$next
  done
}

succeeded() {  # MESSAGE [check]: say it succeeded, or that its command was skipped; exit 0
  if [ -n "$h_skipped" ] || [ -n "${2:-}" ]; then  # (POST /queue carries no header: ask)
    release_info
    base=$(json_get base "$B")
    if [ -n "$base" ]; then
      paths=$(LC_ALL=C awk '{ s = s $0 } END { if (match(s, /"paths": *\[[^]]*\]/)) {
          p = substr(s, RSTART, RLENGTH); sub(/^"paths": *\[/, "", p); sub(/\]$/, "", p)
          gsub(/"/, "", p); gsub(/, */, ", ", p); printf "%s", p } }' "$B")
      say "release skipped: no change in $paths since $(printf '%s' "$base" | cut -c1-7)"
      exit 0
    fi
  fi
  say "$1"
  exit 0
}

finish() {  # the followed attempt is final: report it
  [ "$state" != success ] || succeeded "release for $SHA succeeded (attempt $attempt)"
  release_info
  [ "$r_attempt" = "$attempt" ] || r_error=''
  say "release for $SHA ended: $state (attempt $attempt)${r_error:+: $r_error}"
  exit 1
}

# --- Configuration ---
case ${1:-} in -h | --help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
[ $# -le 1 ] || { usage >&2; exit 2; }
SHA=${1:-${RAILWAY_GIT_COMMIT_SHA:-}}
[ -n "$SHA" ] || die 2 "no commit SHA: give it as the argument or set RAILWAY_GIT_COMMIT_SHA" \
  "(Railway sets it only for deploys triggered from GitHub)"
case $SHA in *[!0-9a-fA-F]*) SHA_OK=no ;; *) SHA_OK=${#SHA} ;; esac
case $SHA_OK in 40 | 64) ;; *) die 2 "not a full commit SHA (40 or 64 hex digits): $SHA" ;; esac
SHA=$(printf '%s' "$SHA" | sed 'y/ABCDEF/abcdef/')
BASE=${RELEASER_URL:-}
[ -n "$BASE" ] || die 2 "RELEASER_URL is not set (e.g. http://releaser.railway.internal:8080)"
BASE=${BASE%/}
case $BASE in http://* | https://*) ;; *) die 2 "RELEASER_URL must start with http:// or https://: $BASE" ;; esac
hostport=${BASE#*://}; hostport=${hostport%%[/?#]*}; hostport=${hostport##*@}
case $hostport in
  *:) die 2 "RELEASER_URL has no port after its ':' ($BASE): the variable it was built from" \
        "(e.g. the releaser's PORT, which must be set by hand) is empty" ;;
  '' | :* | \[\]*) die 2 "RELEASER_URL has no host: $BASE" ;;
  \[*\]) ;;
  \[*\]:* | [!\[]*:*) is_uint "${hostport##*:}" || die 2 "RELEASER_URL has a port that is not a number: $BASE" ;;
esac
WAIT_TIMEOUT=${RELEASER_WAIT_TIMEOUT:-600}
is_uint "$WAIT_TIMEOUT" || die 2 "RELEASER_WAIT_TIMEOUT must be a whole number of seconds"
while :; do case $WAIT_TIMEOUT in 0?*) WAIT_TIMEOUT=${WAIT_TIMEOUT#0} ;; *) break ;; esac; done  # 090: not octal
MAXT=${RELEASER_REQUEST_TIMEOUT:-60}  # seconds before one HTTP request is abandoned
is_uint "$MAXT" || die 2 "RELEASER_REQUEST_TIMEOUT must be a whole number of seconds"
while :; do case $MAXT in 0?*) MAXT=${MAXT#0} ;; *) break ;; esac; done
[ "$MAXT" -gt 0 ] || die 2 "RELEASER_REQUEST_TIMEOUT must be at least 1 second"
WAIT=$((MAXT / 2)); [ "$WAIT" -le 30 ] || WAIT=30  # seconds per long-poll (the releaser caps it at 60)
KEY=${RELEASER_API_KEY:-}
case $KEY in *[![:print:]]*) die 2 "RELEASER_API_KEY contains control characters" ;; esac
# Who asks, sent along with each request (X-Requested-By, X-Deployment-Id) when set and printable.
BY=${RAILWAY_SERVICE_NAME:-} DEPLOYMENT=${RAILWAY_DEPLOYMENT_ID:-}
case $BY in *[![:print:]]*) BY='' ;; esac
case $DEPLOYMENT in *[![:print:]]*) DEPLOYMENT='' ;; esac

CLIENT=${RELEASER_HTTP_CLIENT:-}
if [ -z "$CLIENT" ]; then
  for c in curl wget bash; do command -v "$c" >/dev/null 2>&1 && { CLIENT=$c; break; }; done
  [ -n "$CLIENT" ] || die 2 "neither curl, wget nor bash is installed: cannot talk HTTP"
else
  case $CLIENT in
    curl | wget | bash) command -v "$CLIENT" >/dev/null 2>&1 ||
                          die 2 "RELEASER_HTTP_CLIENT=$CLIENT, but $CLIENT is not installed" ;;
  esac
fi
case $CLIENT in
  curl) # its config, read from standard input: the headers, each value quoted for it
        CURL_CONFIG=''
        [ -z "$KEY" ] || CURL_CONFIG="header = \"Authorization: Bearer $(curl_quote "$KEY")\"$NL"
        [ -z "$BY" ] || CURL_CONFIG="${CURL_CONFIG}header = \"X-Requested-By: $(curl_quote "$BY")\"$NL"
        [ -z "$DEPLOYMENT" ] ||
          CURL_CONFIG="${CURL_CONFIG}header = \"X-Deployment-Id: $(curl_quote "$DEPLOYMENT")\"$NL" ;;
  wget) if wget --version 2>/dev/null | grep -q 'GNU Wget'; then CLIENT=gnuwget; else CLIENT=bbwget; fi ;;
  bash) case $BASE in https://*) die 2 "without curl or wget only plain http:// URLs work: $BASE" ;; esac
        export RELEASER_API_KEY
        hostport=${BASE#http://}; PREFIX=''
        case $hostport in */*) PREFIX=/${hostport#*/}; hostport=${hostport%%/*} ;; esac
        HOST_HDR=$hostport TCP_PORT=80
        case $hostport in
          \[*\]:*) TCP_HOST=${hostport%%]*}; TCP_PORT=${hostport##*]:} ;;
          \[*\]) TCP_HOST=${hostport%]} ;;
          *:*) TCP_HOST=${hostport%%:*}; TCP_PORT=${hostport#*:} ;;
          *) TCP_HOST=$hostport ;;
        esac
        TCP_HOST=${TCP_HOST#[} ;;
  *) die 2 "RELEASER_HTTP_CLIENT must be curl, wget or bash, not $CLIENT" ;;
esac
TIMEOUT_CMD=''
if command -v timeout >/dev/null 2>&1 && timeout 5 true >/dev/null 2>&1; then TIMEOUT_CMD=timeout; fi

T=$(mktemp -d 2>/dev/null) || { T=${TMPDIR:-/tmp}/pre-deploy.$$; mkdir -m 700 "$T" || die 2 "cannot create $T"; }
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
H=$T/headers B=$T/body E=$T/errors
(umask 077
 { [ -z "$KEY" ] || printf 'header = Authorization: Bearer %s\n' "$KEY"
   [ -z "$BY" ] || printf 'header = X-Requested-By: %s\n' "$BY"
   [ -z "$DEPLOYMENT" ] || printf 'header = X-Deployment-Id: %s\n' "$DEPLOYMENT"; } >"$T/wgetrc")

say "asking the releaser at $BASE for the release of $SHA (HTTP client: $CLIENT)"
queue
limits
follow
finish
