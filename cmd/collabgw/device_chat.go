package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
)

const chatHelp = `commands:
  @USER TEXT        send TEXT to USER (and make USER the default recipient)
  TEXT              send TEXT to the default recipient
  /status PRESENCE [TEXT]   online, busy, away, idle or offline
  /drop             drop the connection (out of coverage), then resume
  /quit             log out
`

func newDeviceChatCmd() *cobra.Command {
	var f deviceFlags
	cmd := &cobra.Command{
		Use:   "chat --user U",
		Short: "Log a device in and exchange IMs interactively (type /help)",
		Long: `Log a device in to the edge and chat: lines from standard input are sent as IMs, IMs and
notices from the edge are printed. The device sends its STATUS on the interval the edge asks
for. When the connection drops (or on /drop), it resumes with its resume token — the session,
its GroupWise login and the IMs that arrived meanwhile are kept.

` + passwordHelp + `

` + chatHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tty := stdinTerminal()
			tty.warn = cmd.ErrOrStderr()
			in := bufio.NewReader(cmd.InOrStdin()) // shared: --password-file - reads its first line
			l, st, err := f.connect(ctx, in, tty)
			if err != nil {
				return err
			}
			out := &lockedWriter{w: cmd.OutOrStdout()}
			if err := printStatus(out, st, 0, false); err != nil {
				return err
			}
			if l == nil {
				return &exitError{code: 2, err: fmt.Errorf("login refused: %v", st.Code)}
			}
			return (&chat{link: l, out: out}).run(ctx, in)
		},
	}
	f.register(cmd)
	return cmd
}

// lockedWriter serialises the chat's two writers: the input loop and the
// link's events.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// chat is one interactive session: the input loop here, the link's Run
// (messages, STATUS, resumes) in its own goroutine.
type chat struct {
	link *devconn.Link
	out  io.Writer
	to   string
}

func (c *chat) run(ctx context.Context, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- c.link.Run(ctx, c.event) }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case err := <-ended:
			return c.ended(ctx, err)
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "/quit" {
				return c.logout(ctx)
			}
			if err := c.command(ctx, strings.TrimSpace(line)); err != nil {
				fmt.Fprintln(c.out, "!", err)
			}
		}
	}
}

func (c *chat) logout(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, devconn.DefaultLogoutTimeout)
	defer cancel()
	if err := c.link.Logout(lctx); err != nil {
		fmt.Fprintln(c.out, "logged out; the edge did not confirm it:", err)
		return nil
	}
	fmt.Fprintln(c.out, "logged out")
	return nil
}

// ended reports how Run ended.
func (c *chat) ended(ctx context.Context, err error) error {
	var se *devconn.SessionEndedError
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.As(err, &se):
		fmt.Fprintf(c.out, "* %s (%s)\n", se.Status.Code, se.Status.Message)
		return &exitError{code: 2, err: err}
	}
	return err
}

// event prints what the link reports.
func (c *chat) event(e devconn.Event) {
	switch e.Kind {
	case devconn.EventMessage:
		if m, ok := e.Message.(*devproto.ReceiveIM); ok {
			fmt.Fprintf(c.out, "[%s] %s\n", m.From, m.Text)
		}
	case devconn.EventDropped:
		fmt.Fprintln(c.out, "* connection lost; resuming:", e.Err)
	case devconn.EventResumeFailed:
		fmt.Fprintf(c.out, "* resume attempt %d failed: %v; next in %v\n", e.Attempt, e.Err, e.Wait.Round(100*time.Millisecond))
	case devconn.EventResumed:
		fmt.Fprintln(c.out, "* resumed session", e.Status.SessionID)
	}
}

var presences = map[string]devproto.Presence{
	"online": devproto.PresenceOnline, "busy": devproto.PresenceBusy, "away": devproto.PresenceAway,
	"idle": devproto.PresenceIdle, "offline": devproto.PresenceAppearOffline,
}

func (c *chat) command(ctx context.Context, line string) error {
	switch {
	case line == "":
		return nil
	case line == "/help":
		_, err := io.WriteString(c.out, chatHelp)
		return err
	case line == "/drop":
		c.link.Drop()
		return nil
	case strings.HasPrefix(line, "/status"):
		word, text, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "/status")), " ")
		p, ok := presences[word]
		if !ok {
			return fmt.Errorf("unknown presence %q", word)
		}
		return c.link.SetPresence(ctx, devproto.Status{Presence: p, Text: text})
	case strings.HasPrefix(line, "@"):
		to, text, _ := strings.Cut(line[1:], " ")
		c.to = to
		line = text
	}
	if c.to == "" {
		return errors.New("no recipient yet: start with @USER")
	}
	if line == "" {
		return nil
	}
	return c.link.Send(ctx, &devproto.SendIM{To: c.to, Text: line})
}
