#!/bin/sh
# Greets on stdout, reports on stderr, and stops cleanly on SIGTERM.
trap 'echo "hello: stopping" >&2; exit 0' TERM INT
echo "hello: running in $(pwd) as $(id -un) on $(hostname)" >&2
i=0
while :; do
        i=$((i + 1))
        echo "Hello from $NAME, line $i"
        sleep "$INTERVAL" &
        wait $!
done
