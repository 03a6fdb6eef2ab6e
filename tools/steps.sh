#!/bin/bash
# Set-up steps with elapsed time, for tools/run-demo and tools/run-tests.
# Sourced, not run. Each step's own output (apt, pip, tox installs) goes to
# one log file; the terminal shows one line per step:
#     [2/5] building the demo virtualenv (pip) ... ok 3m12s
# A slow step shows a live elapsed counter on a TTY, or a line every
# $STEPS_HEARTBEAT_S seconds (default 30) elsewhere, so that a slow step
# can be told from a hung one. A failed step prints its exit code, the
# last lines of the log and the log's path, and exits with its code.
# With $STEPS_TIMES set to a file, each step also appends one line to it,
# "SECONDS<tab>EXIT<tab>LABEL", for a table of durations at the end.
#
#     source tools/steps.sh
#     steps_begin run-demo 5
#     step 'installing host packages (apt)' python3 -m testbed.hosts install
#     step_shown 'the demo' python3 -m tox -e demo || exit $?

STEPS_HEARTBEAT_S=${STEPS_HEARTBEAT_S:-30}
STEPS_TAIL_LINES=${STEPS_TAIL_LINES:-20}

# steps_elapsed SECONDS: 3m12s
function steps_elapsed {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# steps_begin NAME TOTAL: start a fresh log (its path is said first) for
# TOTAL steps. The log is .logs/NAME.log in the checkout, or
# $LIVEMIGRATE_SETUP_LOG.
function steps_begin {
    STEPS_NAME=$1
    STEPS_TOTAL=$2
    STEPS_DONE=0
    STEPS_LOG=${LIVEMIGRATE_SETUP_LOG:-$PWD/.logs/$1.log}
    mkdir -p "$(dirname "$STEPS_LOG")"
    : > "$STEPS_LOG"
    if [[ -n ${STEPS_TIMES:-} ]]; then
        mkdir -p "$(dirname "$STEPS_TIMES")"
        : > "$STEPS_TIMES"
    fi
    echo "$STEPS_NAME: set-up detail (apt, pip) goes to $STEPS_LOG"
}

# _steps_time SECONDS EXIT LABEL: one line in $STEPS_TIMES, if set
function _steps_time {
    if [[ -n ${STEPS_TIMES:-} ]]; then
        printf '%d\t%d\t%s\n' "$1" "$2" "$3" >> "$STEPS_TIMES"
    fi
}

# _steps_heartbeat HEAD T0: runs in the background while a step runs
function _steps_heartbeat {
    local head=$1 t0=$2
    if [[ -t 1 ]]; then
        while sleep 1 > /dev/null 2>&1; do
            printf '\r%s %s' "$head" "$(steps_elapsed $((SECONDS - t0)))"
        done
    else
        # NOTE: sleep's own fds closed: a sleep outliving the step must
        # not hold a pipe on our stdout open
        while sleep "$STEPS_HEARTBEAT_S" > /dev/null 2>&1; do
            echo "$head still running after" \
                "$(steps_elapsed $((SECONDS - t0)))"
        done
    fi
}

# step_shown LABEL COMMAND...: a step whose output belongs on the
# terminal (a test level); returns COMMAND's exit code instead of exiting
function step_shown {
    local label=$1
    shift
    STEPS_DONE=$((STEPS_DONE + 1))
    local head="[$STEPS_DONE/$STEPS_TOTAL] $label" t0=$SECONDS rc=0
    echo "$head (output below)"
    "$@" || rc=$?
    _steps_time $((SECONDS - t0)) "$rc" "$label"
    if [[ $rc -eq 0 ]]; then
        echo "$head ... ok $(steps_elapsed $((SECONDS - t0)))"
    else
        echo "$head ... FAILED (exit $rc) after" \
            "$(steps_elapsed $((SECONDS - t0)))" >&2
    fi
    return "$rc"
}

# step LABEL COMMAND...: run COMMAND with its output in the log
function step {
    local label=$1
    shift
    STEPS_DONE=$((STEPS_DONE + 1))
    local head="[$STEPS_DONE/$STEPS_TOTAL] $label ..."
    local t0=$SECONDS rc=0 beat
    printf '\n==== %s %s\n==== $ %s\n' "$(date -u +%H:%M:%SZ)" \
        "$head" "$*" >> "$STEPS_LOG"
    if [[ -t 1 ]]; then
        printf '%s' "$head"
    else
        echo "$head"
    fi
    _steps_heartbeat "$head" "$t0" &
    beat=$!
    "$@" < /dev/null >> "$STEPS_LOG" 2>&1 || rc=$?
    kill "$beat" 2>/dev/null || true
    wait "$beat" 2>/dev/null || true
    local took
    took=$(steps_elapsed $((SECONDS - t0)))
    _steps_time $((SECONDS - t0)) "$rc" "$label"
    echo "==== exit $rc after $took" >> "$STEPS_LOG"
    if [[ -t 1 ]]; then
        printf '\r\033[K'
    fi
    if [[ $rc -eq 0 ]]; then
        echo "$head ok $took"
        return 0
    fi
    {
        echo "$head FAILED (exit $rc) after $took"
        echo "---- last $STEPS_TAIL_LINES lines of $STEPS_LOG:"
        tail -n "$STEPS_TAIL_LINES" "$STEPS_LOG"
        echo "---- $STEPS_NAME: step '$label' failed; its full output:" \
            "$STEPS_LOG"
    } >&2
    exit "$rc"
}
