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
	"github.com/collabgw/collabgw/internal/status"
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
		Use:   "chat --user U --password P",
		Short: "Log a device in and exchange IMs interactively (type /help)",
		Long: `Log a device in to the edge and chat: lines from standard input are sent as IMs, IMs and
notices from the edge are printed. The device sends its STATUS on the interval the edge asks
for. When the connection drops (or on /drop), it resumes with its resume token — the session,
its GroupWise login and the IMs that arrived meanwhile are kept.

` + chatHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			c, s, st, err := f.login(lctx)
			cancel()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := printStatus(out, st, 0, false); err != nil {
				return err
			}
			if s == nil {
				return &exitError{code: 2, err: fmt.Errorf("login refused: %v", st.Code)}
			}
			ch := &chat{f: &f, client: c, out: out, sess: s, st: st}
			return ch.run(ctx, cmd.InOrStdin())
		},
	}
	f.register(cmd, true)
	return cmd
}

// chat is one interactive session.
type chat struct {
	f      *deviceFlags
	client *devconn.Client
	out    io.Writer
	to     string

	mu   sync.Mutex // guards sess and st, replaced on resume
	sess *devconn.Session
	st   *devproto.ServerStatus
}

func (c *chat) current() (*devconn.Session, *devproto.ServerStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess, c.st
}

func (c *chat) run(ctx context.Context, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- c.receive(ctx) }()
	go c.sendStatus(ctx)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case err := <-ended:
			return err
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "/quit" {
				s, _ := c.current()
				_ = s.Send(ctx, &devproto.Logout{})
				s.Close()
				fmt.Fprintln(c.out, "logged out")
				return nil
			}
			if err := c.command(ctx, strings.TrimSpace(line)); err != nil {
				fmt.Fprintln(c.out, "!", err)
			}
		}
	}
}

func (c *chat) command(ctx context.Context, line string) error {
	s, _ := c.current()
	switch {
	case line == "":
		return nil
	case line == "/help":
		_, err := io.WriteString(c.out, chatHelp)
		return err
	case line == "/drop":
		return s.Close() // receive notices and resumes
	case strings.HasPrefix(line, "/status"):
		word, text, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "/status")), " ")
		p, ok := map[string]devproto.Presence{
			"online": devproto.PresenceOnline, "busy": devproto.PresenceBusy, "away": devproto.PresenceAway,
			"idle": devproto.PresenceIdle, "offline": devproto.PresenceAppearOffline,
		}[word]
		if !ok {
			return fmt.Errorf("unknown presence %q", word)
		}
		return s.Send(ctx, &devproto.Status{Presence: p, Text: text})
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
	return s.Send(ctx, &devproto.SendIM{To: c.to, Text: line})
}

// receive prints what the edge sends; when the link drops it resumes.
func (c *chat) receive(ctx context.Context) error {
	for {
		s, _ := c.current()
		m, err := s.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintln(c.out, "* connection lost; resuming")
			if err := c.resume(ctx); err != nil {
				return err
			}
			continue
		}
		switch m := m.(type) {
		case *devproto.ReceiveIM:
			fmt.Fprintf(c.out, "[%s] %s\n", m.From, m.Text)
		case *devproto.ServerStatus:
			fmt.Fprintf(c.out, "* %s (%s)\n", m.Code, m.Message)
			if m.Code != status.Accepted {
				return &exitError{code: 2, err: fmt.Errorf("session ended: %v", m.Code)}
			}
		case *devproto.Ping:
			_ = s.Send(ctx, &devproto.Pong{ID: m.ID})
		}
	}
}

func (c *chat) resume(ctx context.Context) error {
	_, st := c.current()
	for attempt := 0; attempt < 5; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		s, err := c.resumeOnce(rctx, st)
		cancel()
		var rej *devconn.RejectedError
		if errors.As(err, &rej) {
			return &exitError{code: 2, err: fmt.Errorf("resume refused: %v", rej.Status.Code)}
		}
		if err == nil {
			c.mu.Lock()
			c.sess, c.st = s, s.Accepted()
			c.mu.Unlock()
			fmt.Fprintln(c.out, "* resumed session", st.SessionID)
			return nil
		}
		fmt.Fprintln(c.out, "* resume failed:", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
	return errors.New("could not resume")
}

func (c *chat) resumeOnce(ctx context.Context, st *devproto.ServerStatus) (*devconn.Session, error) {
	_, device, err := c.f.client()
	if err != nil {
		return nil, err
	}
	conn, err := c.client.Dial(ctx, c.f.edge)
	if err != nil {
		return nil, err
	}
	return c.client.Resume(ctx, conn, devproto.Resume{DeviceID: device, SessionID: st.SessionID, Token: st.ResumeToken})
}

// sendStatus sends STATUS on the interval the edge asked for.
func (c *chat) sendStatus(ctx context.Context) {
	_, st := c.current()
	every := st.StatusInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s, _ := c.current()
			_ = s.Send(ctx, &devproto.Status{Presence: devproto.PresenceOnline})
		}
	}
}
