package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/collabgw/collabgw/internal/devproto"
)

// passwordFlags are the three ways a device command takes the user's
// password, best first: a prompt without echo on a terminal, a file, and
// (for scripts that have nothing better) the command line, where it lands
// in shell history and in `ps`.
type passwordFlags struct {
	file string
	flag string
}

const passwordFlagHelp = "the user's GroupWise password. AVOID: it stays in shell history and is visible in `ps` " +
	"to every user of the machine; use --password-file, or leave both out to be prompted on a terminal"

func (p *passwordFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&p.file, "password-file", "", "read the password from the first line of this file (\"-\" for standard input)")
	fl.StringVar(&p.flag, "password", "", passwordFlagHelp)
	cmd.MarkFlagsMutuallyExclusive("password", "password-file")
}

// terminal is what reading a password from a terminal needs; a test
// replaces it.
type terminal struct {
	isTerminal   func() bool
	readNoEcho   func() ([]byte, error)
	prompt, warn io.Writer
}

// stdinTerminal reads from the process's standard input when it is a
// terminal, prompting on standard error.
func stdinTerminal() terminal {
	fd := int(os.Stdin.Fd()) //nolint:gosec // a file descriptor fits an int
	return terminal{
		isTerminal: func() bool { return term.IsTerminal(fd) },
		readNoEcho: func() ([]byte, error) { return term.ReadPassword(fd) },
		prompt:     os.Stderr,
		warn:       os.Stderr,
	}
}

// errNoPassword explains the ways to give a password when none was given.
var errNoPassword = errors.New("no password: standard input is not a terminal to prompt on; use --password-file FILE (or - for standard input)")

// password returns the password from the file, the flag or a prompt, in
// that order of preference, and refuses an empty one.
func (p *passwordFlags) password(user string, stdin io.Reader, tty terminal) (devproto.Password, error) {
	var pw string
	switch {
	case p.file != "":
		r := stdin
		if p.file != "-" {
			f, err := os.Open(p.file)
			if err != nil {
				return "", fmt.Errorf("--password-file: %w", err)
			}
			defer f.Close()
			r = f
		}
		line, err := readLine(r, devproto.MaxPasswordLen+2)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw = strings.TrimRight(line, "\r")
	case p.flag != "":
		fmt.Fprintln(tty.warn, "warning: --password is visible to other users of this machine and kept in shell history; prefer --password-file or the prompt")
		pw = p.flag
	case tty.isTerminal():
		fmt.Fprintf(tty.prompt, "GroupWise password for %s: ", user)
		b, err := tty.readNoEcho()
		fmt.Fprintln(tty.prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw = string(b)
	default:
		return "", errNoPassword
	}
	switch {
	case pw == "":
		return "", errors.New("the password is empty")
	case len(pw) > devproto.MaxPasswordLen:
		return "", fmt.Errorf("the password is longer than %d bytes", devproto.MaxPasswordLen)
	}
	return devproto.Password(pw), nil
}

// readLine reads one line (without its newline) of at most limit bytes. It
// reads byte by byte from a reader that can, so that the rest of a shared
// standard input is left for whoever reads it next.
func readLine(r io.Reader, limit int) (string, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	var b strings.Builder
	for b.Len() <= limit {
		c, err := br.ReadByte()
		switch {
		case errors.Is(err, io.EOF):
			return b.String(), nil
		case err != nil:
			return "", err
		case c == '\n':
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("the first line is longer than %d bytes", limit)
}
