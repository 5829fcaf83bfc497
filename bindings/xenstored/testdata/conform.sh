# Run by TestCClientsMatchCxenstored against luxen's xenstored, and once in the
# xenlab against the real cxenstored of Xen 4.17 to record cxenstored-4.17.golden.
# the same commands run against cxenstored (lab) and luxen's xenstored (host)
x() { echo "\$ $*"; "$@" 2>&1; echo "rc=$?"; }
x xenstore-write /t/a 1 /t/b "two words" /t/c/d/e deep
x xenstore-read /t/a /t/b
x xenstore-read /t/missing
x xenstore-read -p /t/c/d/e
x xenstore-ls /t
x xenstore-ls -f /t
x xenstore-ls -p /t
x xenstore-list /t
x xenstore-list -p /t
x xenstore-exists /t/a
x xenstore-exists /t/nope
x xenstore-chmod /t/a r5 w6
x xenstore-chmod -r /t/c n0 r7
x xenstore-ls -p /t
x xenstore-write /t/a
x xenstore-rm /t/a
x xenstore-rm /t/nope
x xenstore-rm /nope/deeper
x xenstore-rm -t /t/c/d/e
x xenstore-ls /t
x xenstore-write /bad//path x
x xenstore-write bad/relative x
x xenstore-read /
x xenstore-write /t/long "$(printf 'x%.0s' $(seq 1 3000))"
x xenstore-read /t/long
x xenstore-list /local/domain
x xenstore-watch -n 3 /t/w &
sleep 1; xenstore-write /t/w/x 1; sleep 0.5; xenstore-rm /t/w; wait
x xenstore-rm /t
