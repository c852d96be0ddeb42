#!/usr/bin/env bash
# deploy.sh — ship antigravityd releases to a host and switch between them without dropping a request.
#
# The host keeps every release under $AGD_ROOT/releases/<id>, with `current` and `previous` symlinks and one
# link per blue/green slot ($AGD_ROOT/blue, $AGD_ROOT/green) that antigravityd@<slot>.service runs. A switch
# starts the idle slot on the new release (its ExecStartPre runs the migrations), waits for READY=1 and for
# /api/health answered by the new process, then moves `current` and stops the old slot, which drains.
# If the new slot does not become healthy it is stopped again and nothing else changes.
# See docs/runbook.md for the host set-up.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy.sh [OPTIONS] COMMAND [ARGS]

Commands:
  deploy            build a release, ship it, migrate, switch slots (blue/green); on a failed health
                    check stop the new slot, keep serving the current release and exit 1
  rollback          switch back to the previous release, the same way
  restart           start the current release in the idle slot and retire the old one (after a config or
                    secret change: no stall, no dropped request)
  status            serving slot, current and previous release, health, recent deploys (exit 1 if unhealthy)
  logs [-n N] [-f]  the journal of the daemon's units (last N lines, default 100; -f follows)
  deploy-local      `deploy` onto this machine (no ssh; the same release layout and switch)

Options:
  --config FILE     settings file (default: $AGD_CONFIG, else ./deploy.conf if it exists)
  --host HOST       target host (AGD_HOST)
  --user USER       ssh user (AGD_USER, default root)
  --build=nix|venv  how to build: nix (default: `nix build`, `nix copy --to ssh://HOST`) or venv (a
                    virtualenv with the wheel, shipped with rsync, for hosts without Nix)
  --dry-run         print every local and remote command instead of running it (assumes the blue slot
                    serves and the health check passes)
  -h, --help        this text

Settings (in the settings file as KEY=value lines, or in the environment, which wins over the file):
  AGD_HOST             target host (required except for deploy-local)
  AGD_USER             ssh user (root)
  AGD_SSH_PORT         ssh port (22)
  AGD_SSH_OPTS         extra ssh options, e.g. "-i ~/.ssh/deploy -o StrictHostKeyChecking=yes"
  AGD_SUDO             prefix for privileged commands on the target, e.g. "sudo -n" ("" when AGD_USER is root)
  AGD_ROOT             release root on the target (/opt/antigravityd)
  AGD_UNIT             unit name prefix (antigravityd: antigravityd@blue.service, antigravityd.socket …)
  AGD_HEALTH_URL       the daemon's address as seen on the target (http://127.0.0.1:8045)
  AGD_HEALTH_TIMEOUT   seconds the new slot has to answer /api/health with 200 after READY=1 (60)
  AGD_KEEP             releases to keep on the target besides current and previous (5)
  AGD_BUILD            nix or venv (nix)
  AGD_SOURCE           the source tree to build (the directory of this script)
  AGD_FLAKE_ATTR       nix: the flake output to build (packages.<system>.default: "default")
  AGD_VENV_PYTHON      venv: the interpreter the release runs on, the same path on the build host and the
                       target (/usr/bin/python3)
  AGD_BUILD_PYTHON     venv: the Python whose pip builds the wheel and fills the virtualenv (python3)
  AGD_PIP_ARGS         venv: extra pip arguments, e.g. "--no-index --find-links /srv/wheelhouse"

The target needs systemd with the units from systemd/ (or the NixOS module with releaseDir set), curl, and
rsync (venv) or Nix (nix). Every switch is appended to $AGD_ROOT/deploy.log.
EOF
}

die() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

# ------------------------------------------------------------------------------------------ configuration

readonly SETTINGS=(AGD_HOST AGD_USER AGD_SSH_PORT AGD_SSH_OPTS AGD_SUDO AGD_ROOT AGD_UNIT AGD_HEALTH_URL
  AGD_HEALTH_TIMEOUT AGD_KEEP AGD_BUILD AGD_SOURCE AGD_FLAKE_ATTR AGD_VENV_PYTHON AGD_BUILD_PYTHON AGD_PIP_ARGS)

# KEY=value lines; a value may be quoted. Only known keys, and the environment wins over the file.
load_settings_file() {
  local file=$1 line key value lineno=0
  [[ -r $file ]] || die "cannot read settings file $file"
  while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ $line =~ ^[[:space:]]*([A-Z_]+)=(.*)$ ]] || die "$file:$lineno: expected KEY=value"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    [[ " ${SETTINGS[*]} " == *" $key "* ]] || die "$file:$lineno: unknown setting $key"
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    if [[ -z ${!key+set} ]]; then
      printf -v "$key" '%s' "$value"
    fi
  done <"$file"
}

apply_defaults() {
  : "${AGD_HOST:=}"
  : "${AGD_USER:=root}"
  : "${AGD_SSH_PORT:=22}"
  : "${AGD_SSH_OPTS:=}"
  : "${AGD_SUDO:=}"
  : "${AGD_ROOT:=/opt/antigravityd}"
  : "${AGD_UNIT:=antigravityd}"
  : "${AGD_HEALTH_URL:=http://127.0.0.1:8045}"
  : "${AGD_HEALTH_TIMEOUT:=60}"
  : "${AGD_KEEP:=5}"
  : "${AGD_BUILD:=nix}"
  : "${AGD_SOURCE:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
  : "${AGD_FLAKE_ATTR:=default}"
  : "${AGD_VENV_PYTHON:=/usr/bin/python3}"
  : "${AGD_BUILD_PYTHON:=python3}"
  : "${AGD_PIP_ARGS:=}"
  [[ $AGD_BUILD == nix || $AGD_BUILD == venv ]] || die "AGD_BUILD must be nix or venv, not '$AGD_BUILD'"
  [[ $AGD_HEALTH_TIMEOUT =~ ^[0-9]+$ ]] || die "AGD_HEALTH_TIMEOUT must be a number of seconds"
  [[ $AGD_KEEP =~ ^[0-9]+$ ]] || die "AGD_KEEP must be a number"
  [[ $AGD_ROOT == /* ]] || die "AGD_ROOT must be an absolute path"
  AGD_HEALTH_URL=${AGD_HEALTH_URL%/}
}

# ------------------------------------------------------------------------------------------ running commands

DRY_RUN=0
LOCAL=0          # deploy-local: "target" commands run on this machine
TARGET=""        # label for messages
SSH_DEST=""
SSH_ARGS=()
SUDO=()
TMP_DIR=""
LOCK_HELD=0

# One POSIX-shell word per argument: plain when safe, else in single quotes.
quote() {
  local out="" arg escaped="'\\''"
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
      out+="${out:+ }$arg"
    else
      out+="${out:+ }'${arg//\'/$escaped}'"
    fi
  done
  printf '%s' "$out"
}

# Run a command on the target (over ssh, or here for deploy-local). Under --dry-run: print it.
on_target() {
  local line
  line=$(quote "$@")
  if ((DRY_RUN)); then
    plan "[$TARGET] $line"
    return 0
  fi
  if ((LOCAL)); then
    bash -c "$line"
  else
    # shellcheck disable=SC2029 # the line is quoted for the remote shell on purpose
    ssh "${SSH_ARGS[@]}" "$SSH_DEST" "$line"
  fi
}

# --dry-run output goes to fd 3 (stdout), so that it shows even from inside $(...).
plan() { printf '%s\n' "$*" >&3; }

# The same with AGD_SUDO in front (writes under AGD_ROOT, systemctl, journalctl).
as_root() { on_target "${SUDO[@]}" "$@"; }

# A build step on this machine. Under --dry-run: print it.
locally() {
  if ((DRY_RUN)); then
    plan "[local] $(quote "$@")"
    return 0
  fi
  "$@"
}

setup_transport() {
  TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/agd-deploy.XXXXXX")
  if [[ -n $AGD_SUDO ]]; then
    read -r -a SUDO <<<"$AGD_SUDO"
  fi
  if ((LOCAL)); then
    TARGET=local
    return
  fi
  [[ -n $AGD_HOST ]] || die "no target host: set AGD_HOST, use --host, or a settings file (see --help)"
  SSH_DEST="$AGD_USER@$AGD_HOST"
  TARGET=$SSH_DEST
  local extra=()
  if [[ -n $AGD_SSH_OPTS ]]; then
    read -r -a extra <<<"$AGD_SSH_OPTS"
  fi
  # One connection for all the commands of a run.
  SSH_ARGS=(-p "$AGD_SSH_PORT" -o BatchMode=yes -o ControlMaster=auto -o "ControlPath=$TMP_DIR/ssh-%C"
    -o ControlPersist=60 "${extra[@]}")
}

cleanup() {
  local status=$?
  if ((LOCK_HELD)); then
    as_root rmdir "$AGD_ROOT/.deploy.lock" >/dev/null 2>&1 || true
  fi
  if [[ -n $TMP_DIR ]]; then
    if ((!LOCAL && !DRY_RUN)) && [[ -n $SSH_DEST ]]; then
      ssh "${SSH_ARGS[@]}" -O exit "$SSH_DEST" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT

# ------------------------------------------------------------------------------------------ state on the target

other_slot() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }
slot_unit() { echo "$AGD_UNIT@$1.service"; }

# The slot that serves: the active one; with both active (an interrupted switch) the one `current` runs.
serving_slot() {
  if ((DRY_RUN)); then
    on_target systemctl is-active "$(slot_unit blue)" "$(slot_unit green)"
    echo blue
    return
  fi
  local states blue green
  states=$(on_target systemctl is-active "$(slot_unit blue)" "$(slot_unit green)" || true)
  blue=$(sed -n 1p <<<"$states")
  green=$(sed -n 2p <<<"$states")
  if [[ $blue == active && $green == active ]]; then
    local current blue_target
    current=$(link_target current)
    blue_target=$(link_target blue)
    if [[ $blue_target == "$current" ]]; then echo blue; else echo green; fi
  elif [[ $blue == active ]]; then
    echo blue
  elif [[ $green == active ]]; then
    echo green
  fi
  return 0 # none active: a first deploy
}

# Release id a link under AGD_ROOT points at ("" when the link does not exist).
link_target() {
  if ((DRY_RUN)); then
    on_target readlink "$AGD_ROOT/$1"
    echo "{$1}"
    return
  fi
  local target
  target=$(on_target readlink "$AGD_ROOT/$1" 2>/dev/null || true)
  echo "${target##*/}"
}

# Point AGD_ROOT/NAME at releases/ID atomically (a new link renamed over the old one).
set_link() {
  as_root ln -sfn "$AGD_ROOT/releases/$2" "$AGD_ROOT/$1.next"
  as_root mv -Tf "$AGD_ROOT/$1.next" "$AGD_ROOT/$1"
}

deploy_log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
  # shellcheck disable=SC2016 # $1 and $2 are for the remote sh
  as_root sh -c 'printf "%s\n" "$1" >> "$2"' sh "$line" "$AGD_ROOT/deploy.log"
}

acquire_lock() {
  as_root mkdir -p "$AGD_ROOT/releases"
  if ! as_root mkdir "$AGD_ROOT/.deploy.lock" 2>/dev/null; then
    die "another deploy is running on $TARGET (or one was interrupted: remove $AGD_ROOT/.deploy.lock)"
  fi
  LOCK_HELD=1
}

release_lock() {
  as_root rmdir "$AGD_ROOT/.deploy.lock"
  LOCK_HELD=0
}

# ------------------------------------------------------------------------------------------ building

source_revision() {
  git -C "$AGD_SOURCE" describe --always --dirty --abbrev=12 2>/dev/null || echo nogit
}

new_release_id() {
  printf '%s-%s' "$(date -u +%Y%m%dT%H%M%SZ)" "$(source_revision)"
}

# venv: a virtualenv holding the wheel and its dependencies, plus a launcher and the release metadata.
build_venv() {
  local id=$1 stage=$TMP_DIR/build rev
  local release=$stage/release pip_args=()
  rev=$(source_revision)
  if [[ -n $AGD_PIP_ARGS ]]; then
    read -r -a pip_args <<<"$AGD_PIP_ARGS"
  fi
  say "building release $id (venv, $AGD_VENV_PYTHON) from $AGD_SOURCE"
  locally mkdir -p "$stage/wheels" "$release/bin" "$release/share/doc/antigravityd"
  locally "$AGD_BUILD_PYTHON" -m pip wheel --quiet --no-deps "${pip_args[@]}" -w "$stage/wheels" "$AGD_SOURCE"
  locally "$AGD_VENV_PYTHON" -m venv --without-pip "$release/venv"
  local wheel="$stage/wheels/antigravityd-*.whl"
  if ((!DRY_RUN)); then
    wheel=$(compgen -G "$stage/wheels/antigravityd-*.whl" | head -n 1) || die "pip built no antigravityd wheel"
  fi
  # Bytecode is compiled on the target, where the files end up (paths in tracebacks).
  locally "$AGD_BUILD_PYTHON" -m pip --python "$release/venv/bin/python" install --quiet --no-compile \
    --no-warn-script-location "${pip_args[@]}" "$wheel"
  if ((DRY_RUN)); then
    plan "[local] write $release/bin/antigravityd (launcher), $release/RELEASE, docs"
    return
  fi
  # The launcher resolves its own path first: a slot link may be switched while this release runs.
  cat >"$release/bin/antigravityd" <<EOF
#!/bin/sh
# antigravityd release $id (venv build by deploy.sh)
here=\$(dirname "\$(dirname "\$(readlink -f "\$0")")")
ANTIGRAVITY_GIT_REV=\${ANTIGRAVITY_GIT_REV:-$rev}
export ANTIGRAVITY_GIT_REV
exec "\$here/venv/bin/python" -I -B -m antigravityd "\$@"
EOF
  chmod 755 "$release/bin/antigravityd"
  {
    echo "id=$id"
    echo "build=venv"
    echo "git_revision=$rev"
    echo "wheel=${wheel##*/}"
    echo "python=$AGD_VENV_PYTHON"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "built_on=$(hostname)"
  } >"$release/RELEASE"
  if compgen -G "$AGD_SOURCE/docs/*.md" >/dev/null; then
    cp "$AGD_SOURCE"/docs/*.md "$release/share/doc/antigravityd/"
  fi
}

ship_venv() {
  local id=$1
  local dest=$AGD_ROOT/releases/$id
  say "shipping $id to $TARGET:$dest"
  if as_root test -e "$dest" && ((!DRY_RUN)); then
    die "release $id already exists on $TARGET"
  fi
  if ((LOCAL)); then
    locally "${SUDO[@]}" rsync -a "$TMP_DIR/build/release/" "$dest/"
  else
    local rsync_path=rsync
    if ((${#SUDO[@]})); then rsync_path="${SUDO[*]} rsync"; fi
    locally rsync -a --rsync-path="$rsync_path" -e "ssh $(quote "${SSH_ARGS[@]}")" \
      "$TMP_DIR/build/release/" "$SSH_DEST:$dest/"
  fi
  as_root "$dest/venv/bin/python" -m compileall -q -j 0 "$dest/venv/lib"
}

# nix: the flake's package, copied with its closure; the release is a GC-rooted link to the store path.
NIX=(nix --extra-experimental-features "nix-command flakes")
NIX_OUT=""

build_nix() {
  local id=$1
  say "building release $id (nix: $AGD_SOURCE#$AGD_FLAKE_ATTR)"
  if ((DRY_RUN)); then
    locally "${NIX[@]}" build --no-link --print-out-paths "$AGD_SOURCE#$AGD_FLAKE_ATTR"
    NIX_OUT="{store path}"
    return
  fi
  NIX_OUT=$("${NIX[@]}" build --no-link --print-out-paths "$AGD_SOURCE#$AGD_FLAKE_ATTR")
  [[ -x $NIX_OUT/bin/antigravityd ]] || die "the build has no bin/antigravityd: $NIX_OUT"
}

ship_nix() {
  local id=$1
  if ((!LOCAL)); then
    say "copying the closure of $NIX_OUT to $TARGET"
    locally env NIX_SSHOPTS="$(quote "${SSH_ARGS[@]}")" "${NIX[@]}" copy --to "ssh://$SSH_DEST" "$NIX_OUT"
  fi
  as_root nix-store --add-root "$AGD_ROOT/releases/$id" --realise "$NIX_OUT" >/dev/null
}

# ------------------------------------------------------------------------------------------ health

# The identity /version reports for a release, as its own CLI prints it: "antigravityd 0.1.0 (rev)".
release_identity() {
  if ((DRY_RUN)); then
    on_target "$AGD_ROOT/releases/$1/bin/antigravityd" version
    echo "{identity of $1}"
    return
  fi
  local output
  output=$(on_target "$AGD_ROOT/releases/$1/bin/antigravityd" version 2>&1) ||
    die "release $1 does not run on $TARGET: bin/antigravityd version failed: $output"
  tail -n 1 <<<"$output"
}

json_field() { # json_field NAME TEXT → a string or number field of a flat JSON object
  local re="\"$1\"[[:space:]]*:[[:space:]]*(\"([^\"]*)\"|([0-9]+))"
  if [[ $2 =~ $re ]]; then
    printf '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
  fi
}

# One probe: GET /version and GET /api/health on ONE connection, so both answers come from the same
# process (two slots accept on the shared socket). Prints "identity|pid|status|reused|body".
probe() {
  local out version_body health_body version rev pid code1 code2 reused ident
  out=$(on_target curl -sS -m 5 -w '\n@@ %{http_code} %{num_connects}\n' \
    "$AGD_HEALTH_URL/version" "$AGD_HEALTH_URL/api/health" 2>&1) || true
  version_body=$(awk '/^@@ /{exit} {print}' <<<"$out")
  health_body=$(awk 'n==1 && !/^@@ /{print} /^@@ /{n++}' <<<"$out")
  code1=$(awk '/^@@ /{print $2; exit}' <<<"$out")
  code2=$(awk '/^@@ /{n++; if (n==2) print $2}' <<<"$out")
  reused=$(awk '/^@@ /{n++; if (n==2) print ($3 == "0" ? "yes" : "no")}' <<<"$out")
  [[ $code1 == 200 ]] || { printf '||%s|no|%s' "${code1:-none}" "$(tr '\n' ' ' <<<"$out")"; return; }
  version=$(json_field version "$version_body")
  rev=$(json_field git_revision "$version_body")
  pid=$(json_field pid "$version_body")
  ident="antigravityd $version${rev:+ ($rev)}"
  printf '%s|%s|%s|%s|%s' "$ident" "$pid" "${code2:-none}" "${reused:-no}" "$(tr '\n' ' ' <<<"$health_body")"
}

# Wait until the process in SLOT answers /api/health with 200. The new process is recognised by its pid
# (when /version reports one) or by its release identity; when both slots run the same build, any answer
# counts, since either process is then the new code.
wait_healthy() {
  local slot=$1 expected=$2 previous=$3
  local deadline=$((SECONDS + AGD_HEALTH_TIMEOUT)) good=0 needed=3 last="no answer from the new slot yet"
  local main_pid state result ident pid status reused body
  if ((DRY_RUN)); then
    on_target curl -sS -m 5 -w '\n@@ %{http_code} %{num_connects}\n' "$AGD_HEALTH_URL/version" "$AGD_HEALTH_URL/api/health"
    plan "[$TARGET] (repeated until the new slot answers 200 $needed times, at most ${AGD_HEALTH_TIMEOUT}s)"
    return 0
  fi
  [[ $expected == "$previous" ]] && needed=5
  main_pid=$(on_target systemctl show -p MainPID --value "$(slot_unit "$slot")" || true)
  while ((SECONDS < deadline)); do
    state=$(on_target systemctl is-active "$(slot_unit "$slot")" || true)
    if [[ $state != active ]]; then
      HEALTH_REASON="$(slot_unit "$slot") is $state"
      return 1
    fi
    result=$(probe)
    IFS='|' read -r ident pid status reused body <<<"$result"
    local ours=0
    if [[ -n $pid ]]; then
      [[ $pid == "$main_pid" ]] && ours=1
    elif [[ $ident == "$expected" ]]; then
      ours=1
    fi
    if ((ours)) && [[ $reused == yes ]]; then
      if [[ $status == 200 ]]; then
        good=$((good + 1))
        ((good >= needed)) && return 0
      else
        good=0
        last="/api/health answered $status: $body"
      fi
    elif [[ -z $ident ]]; then
      last="probe failed: $status $body"
    fi
    sleep 0.2 # probe interval
  done
  HEALTH_REASON="not healthy after ${AGD_HEALTH_TIMEOUT}s ($last)"
  return 1
}

# ------------------------------------------------------------------------------------------ switching

# Run release ID in the idle slot, check it, then make it current and retire the old slot.
# ACTION is deploy, rollback or restart (for the deploy log).
switch_to() {
  local id=$1 action=$2 old new current expected previous_ident
  current=$(link_target current)
  old=$(serving_slot)
  if [[ -n $old ]]; then new=$(other_slot "$old"); else new=blue; fi
  expected=$(release_identity "$id") || exit 1
  previous_ident=""
  if [[ -n $old && -n $current ]]; then previous_ident=$(release_identity "$current") || exit 1; fi
  say "$action: $(slot_unit "$new") starts $id${old:+ next to $(slot_unit "$old")}"
  set_link "$new" "$id"
  as_root systemctl reset-failed "$(slot_unit "$new")" >/dev/null 2>&1 || true # a start limit hit earlier
  # Type=notify: returns once the daemon has migrated the schema and sent READY=1, fails if it exits.
  if ! as_root systemctl start "$(slot_unit "$new")"; then
    abort_switch "$id" "$action" "$new" "$current" "$(slot_unit "$new") did not start (no READY=1)"
  fi
  HEALTH_REASON=""
  if ! wait_healthy "$new" "$expected" "$previous_ident"; then
    abort_switch "$id" "$action" "$new" "$current" "$HEALTH_REASON"
  fi
  if [[ $id != "$current" ]]; then
    set_link current "$id"
    if [[ -n $current ]]; then set_link previous "$current"; fi
  fi
  if [[ -n $old ]]; then
    say "stopping $(slot_unit "$old") (it drains its connections)"
    as_root systemctl stop "$(slot_unit "$old")"
    set_link "$old" "$id" # if the socket ever starts the idle slot, it runs the current release
  fi
  deploy_log "$action $id ok ${old:-none}->$new by ${USER:-$(id -un)}@$(hostname)"
  say "$action done: $id serves from $(slot_unit "$new")"
}

abort_switch() {
  local id=$1 action=$2 slot=$3 current=$4 reason=$5
  say "$action of $id FAILED: $reason"
  say "rolling back: stopping $(slot_unit "$slot"); ${current:-nothing} keeps serving"
  as_root systemctl stop "$(slot_unit "$slot")" || true
  as_root systemctl reset-failed "$(slot_unit "$slot")" >/dev/null 2>&1 || true
  if [[ -n $current ]]; then set_link "$slot" "$current"; fi
  say "last log lines of $(slot_unit "$slot"):"
  as_root journalctl -u "$(slot_unit "$slot")" -n 30 --no-pager >&2 || true
  deploy_log "$action $id FAILED ($reason); rolled back to ${current:-nothing}"
  release_lock
  exit 1
}

prune_releases() {
  if ((DRY_RUN)); then
    plan "[$TARGET] (remove releases beyond the newest $AGD_KEEP, never current, previous or a slot's)"
    return
  fi
  local keep=() all old
  keep+=("$(link_target current)" "$(link_target previous)" "$(link_target blue)" "$(link_target green)")
  all=$(on_target ls -1 "$AGD_ROOT/releases" | sort -r)
  local count=0
  while IFS= read -r old; do
    [[ -n $old ]] || continue
    count=$((count + 1))
    ((count <= AGD_KEEP)) && continue
    [[ " ${keep[*]} " == *" $old "* ]] && continue
    say "removing old release $old"
    as_root rm -rf "$AGD_ROOT/releases/$old"
  done <<<"$all"
}

# ------------------------------------------------------------------------------------------ commands

cmd_deploy() {
  local id
  id=$(new_release_id)
  ((DRY_RUN)) && say "dry run: nothing is built, copied or restarted; assuming the blue slot serves"
  if [[ $AGD_BUILD == venv ]]; then build_venv "$id"; else build_nix "$id"; fi
  acquire_lock
  if [[ $AGD_BUILD == venv ]]; then ship_venv "$id"; else ship_nix "$id"; fi
  switch_to "$id" deploy
  prune_releases
  release_lock
}

cmd_rollback() {
  ((DRY_RUN)) && say "dry run: nothing is restarted; assuming the blue slot serves"
  acquire_lock
  local previous
  previous=$(link_target previous)
  [[ -n $previous ]] || die "no previous release on $TARGET to roll back to"
  switch_to "$previous" rollback
  release_lock
}

cmd_restart() {
  ((DRY_RUN)) && say "dry run: nothing is restarted; assuming the blue slot serves"
  acquire_lock
  local current
  current=$(link_target current)
  [[ -n $current ]] || die "nothing deployed on $TARGET yet"
  switch_to "$current" restart
  release_lock
}

cmd_status() {
  local current previous slot state pid target healthy=1 code body
  current=$(link_target current)
  previous=$(link_target previous)
  printf 'target:    %s (%s)\n' "$TARGET" "$AGD_ROOT"
  printf 'current:   %s\n' "${current:-(none)}"
  printf 'previous:  %s\n' "${previous:-(none)}"
  for slot in blue green; do
    if ((DRY_RUN)); then
      on_target systemctl is-active "$(slot_unit "$slot")"
      on_target systemctl show -p MainPID --value "$(slot_unit "$slot")"
      continue
    fi
    state=$(on_target systemctl is-active "$(slot_unit "$slot")" || true)
    pid=$(on_target systemctl show -p MainPID --value "$(slot_unit "$slot")" || true)
    target=$(link_target "$slot")
    if [[ $state == active ]]; then
      printf 'slot:      %-5s %s (pid %s) running %s  <- serving\n' "$slot" "$state" "$pid" "${target:-?}"
    else
      printf 'slot:      %-5s %s, next start runs %s\n' "$slot" "${state:-unknown}" "${target:-(no link)}"
    fi
  done
  for path in /health /api/health /version; do
    if ((DRY_RUN)); then
      on_target curl -sS -m 5 -w '\n%{http_code}\n' "$AGD_HEALTH_URL$path"
      continue
    fi
    body=$(on_target curl -sS -m 5 -w '\n%{http_code}' "$AGD_HEALTH_URL$path" 2>&1 || true)
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [[ $code == 200 ]] || healthy=0
    printf 'health:    %-12s %s %s\n' "$path" "$code" "$(tr '\n' ' ' <<<"$body")"
  done
  printf 'recent deploys (%s/deploy.log):\n' "$AGD_ROOT"
  if ((DRY_RUN)); then
    on_target tail -n 10 "$AGD_ROOT/deploy.log"
  else
    on_target tail -n 10 "$AGD_ROOT/deploy.log" 2>/dev/null | sed 's/^/  /' || echo "  (none)"
  fi
  ((healthy)) || return 1
}

cmd_logs() {
  local lines=100 follow=()
  while (($#)); do
    case $1 in
      -n) [[ ${2:-} =~ ^[0-9]+$ ]] || die "logs: -n needs a number"; lines=$2; shift 2 ;;
      -n*) lines=${1#-n}; [[ $lines =~ ^[0-9]+$ ]] || die "logs: -n needs a number"; shift ;;
      -f | --follow) follow=(-f); shift ;;
      *) die "logs: unknown argument $1 (use -n N, -f)" ;;
    esac
  done
  as_root journalctl -u "$AGD_UNIT@*.service" -u "$AGD_UNIT.service" -u "$AGD_UNIT.socket" \
    --no-pager -n "$lines" "${follow[@]}"
}

# ------------------------------------------------------------------------------------------ main

main() {
  local config_file="${AGD_CONFIG:-}" command="" args=() host="" user="" build=""
  while (($#)); do
    case $1 in
      -h | --help | help) usage; exit 0 ;;
      --dry-run) DRY_RUN=1; shift ;;
      --config) config_file=${2:?--config needs a file}; shift 2 ;;
      --config=*) config_file=${1#--config=}; shift ;;
      --host) host=${2:?--host needs a value}; shift 2 ;;
      --host=*) host=${1#--host=}; shift ;;
      --user) user=${2:?--user needs a value}; shift 2 ;;
      --user=*) user=${1#--user=}; shift ;;
      --build) build=${2:?--build needs nix or venv}; shift 2 ;;
      --build=*) build=${1#--build=}; shift ;;
      -*)
        if [[ -n $command ]]; then args+=("$1"); shift; else die "unknown option $1 (see --help)"; fi ;;
      *)
        if [[ -z $command ]]; then command=$1; else args+=("$1"); fi
        shift ;;
    esac
  done
  [[ -n $command ]] || { usage >&2; exit 2; }
  if [[ -z $config_file && -f ./deploy.conf ]]; then config_file=./deploy.conf; fi
  if [[ -n $config_file ]]; then load_settings_file "$config_file"; fi
  [[ -n $host ]] && AGD_HOST=$host
  [[ -n $user ]] && AGD_USER=$user
  [[ -n $build ]] && AGD_BUILD=$build
  apply_defaults
  case $command in
    deploy-local) LOCAL=1 ;;
    deploy | rollback | restart | status | logs) ;;
    *) die "unknown command '$command' (see --help)" ;;
  esac
  if [[ $command != logs ]] && ((${#args[@]})); then die "$command takes no arguments"; fi
  setup_transport
  case $command in
    deploy | deploy-local) cmd_deploy ;;
    rollback) cmd_rollback ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    logs) cmd_logs "${args[@]}" ;;
  esac
}

exec 3>&1
main "$@"
