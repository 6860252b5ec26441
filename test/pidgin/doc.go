// Package pidgin proves the GroupWise simulator and client against code
// nobody here wrote: Pidgin's own GroupWise client (libpurple's prpl-novell,
// from Debian's libpurple0), driven by the small C program testdata/harness.c. The
// test builds the harness with gcc, starts the simulator in-process, logs a
// user in with internal/gwclient, and checks that IMs cross both ways. It
// fails, never skips, when libpurple is missing: scripts/deps.sh installs it.
package pidgin
