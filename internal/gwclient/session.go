package gwclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// LoginInfo is what the server says about the user at login.
type LoginInfo struct {
	DN        string        // the user's distinguished name, the source of its events
	UserID    string        // NM_A_SZ_AUTH_ATTRIBUTE, the name users see
	FullName  string        // may be empty
	Keepalive time.Duration // ping interval in use
	Contacts  []User        // the server-side contact list, if any
}

// User is one user's details as the server describes them.
type User struct {
	DN       string
	UserID   string
	FullName string
	Status   gwproto.Status
}

// Login logs the user in; it must be the first call. ip is the device's
// address as the server should see it, or "" to leave it out. On any
// failure the client is closed: a *ResultError (errors.Is ErrBadCredentials,
// ErrAccountLocked, ErrUserNotFound, ErrServerBusy) or a connection error.
// The password is only written to the TLS connection, never logged or kept.
func (c *Client) Login(ctx context.Context, userID, password, userAgent, ip string) (LoginInfo, error) {
	c.mu.Lock()
	already := c.loggedIn
	c.mu.Unlock()
	if already {
		return LoginInfo{}, ErrAlreadyLoggedIn
	}
	fs := gwproto.Fields{
		gwproto.String(gwproto.TagUserID, userID),
		gwproto.String(gwproto.TagCredentials, password),
		gwproto.String(gwproto.TagUserAgent, userAgent),
		gwproto.Number(gwproto.TagBuild, gwproto.ProtocolBuild),
	}
	if ip != "" {
		fs = append(fs, gwproto.String(gwproto.TagIPAddress, ip))
	}
	resp, err := c.call(ctx, gwproto.Request{Command: "login", Host: c.hostPort, Fields: fs})
	if err != nil {
		c.shutdown(err)
		return LoginInfo{}, err
	}
	info := LoginInfo{Keepalive: c.interval}
	info.DN, _ = resp.Fields.Str(gwproto.TagDN)
	info.UserID, _ = resp.Fields.Str(gwproto.TagAuthAttribute)
	info.FullName, _ = resp.Fields.Str(gwproto.TagFullName)
	if info.DN == "" {
		err := fmt.Errorf("%w: login answer has no %s", ErrProtocol, gwproto.TagDN)
		c.shutdown(err)
		return LoginInfo{}, err
	}
	if m, ok := resp.Fields.Uint(gwproto.TagKeepalive); ok && m > 0 {
		info.Keepalive = time.Duration(m) * time.Minute
	}
	if list, ok := resp.Fields.Find(gwproto.TagContactList); ok {
		for _, ct := range list.Fields.All(gwproto.TagContact) {
			if u, ok := contactUser(ct.Fields); ok {
				info.Contacts = append(info.Contacts, u)
			}
		}
	}
	c.mu.Lock()
	c.loggedIn = true
	c.selfDN = info.DN
	c.interval = info.Keepalive
	for _, u := range info.Contacts {
		c.rememberDNLocked(u.UserID, u.DN)
	}
	if !c.closed {
		c.keepalive = time.AfterFunc(c.interval, c.keepaliveTick)
	}
	c.mu.Unlock()
	return info, nil
}

func contactUser(fs gwproto.Fields) (User, bool) {
	u := User{}
	u.DN, _ = fs.Str(gwproto.TagDN)
	details := fs
	if d, ok := fs.Find(gwproto.TagUserDetails); ok {
		details = d.Fields
	}
	u.UserID, _ = details.Str(gwproto.TagAuthAttribute)
	u.FullName, _ = details.Str(gwproto.TagFullName)
	if st, ok := details.Uint(gwproto.TagStatus); ok {
		u.Status = gwproto.Status(st)
	}
	return u, u.DN != ""
}

// keepaliveTick pings and re-arms; a failed ping ends the client, since a
// server that does not answer a ping will not deliver IMs either.
func (c *Client) keepaliveTick() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		c.shutdown(fmt.Errorf("%w: keepalive: %w", ErrConnectionLost, err))
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.keepalive.Reset(c.interval)
	}
	c.mu.Unlock()
}

func (c *Client) loggedInCall(ctx context.Context, req gwproto.Request) (gwproto.Response, error) {
	c.mu.Lock()
	ok, closed, why := c.loggedIn, c.closed, c.err
	c.mu.Unlock()
	if closed {
		return gwproto.Response{}, why
	}
	if !ok {
		return gwproto.Response{}, ErrNotLoggedIn
	}
	return c.call(ctx, req)
}

// Ping sends a keepalive and waits for its answer.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.loggedInCall(ctx, gwproto.Request{Command: "ping"})
	return err
}

// SetStatus sets the user's presence, with an optional status text and an
// optional auto-reply that the server sends to whoever messages the user
// while not available.
func (c *Client) SetStatus(ctx context.Context, st gwproto.Status, text, autoReply string) error {
	fs := gwproto.Fields{gwproto.String(gwproto.TagStatus, strconv.Itoa(int(st)))}
	if text != "" {
		fs = append(fs, gwproto.String(gwproto.TagStatusText, text))
	}
	if autoReply != "" {
		fs = append(fs, gwproto.String(gwproto.TagMessageBody, autoReply))
	}
	_, err := c.loggedInCall(ctx, gwproto.Request{Command: "setstatus", Fields: fs})
	return err
}

// GetStatus returns the presence of the user with DN dn.
func (c *Client) GetStatus(ctx context.Context, dn string) (gwproto.Status, string, error) {
	resp, err := c.loggedInCall(ctx, gwproto.Request{Command: "getstatus", Fields: gwproto.Fields{gwproto.DN(gwproto.TagDN, dn)}})
	if err != nil {
		return 0, "", err
	}
	st, ok := resp.Fields.Uint(gwproto.TagStatus)
	if !ok {
		return 0, "", fmt.Errorf("%w: getstatus answer has no status", ErrProtocol)
	}
	text, _ := resp.Fields.Str(gwproto.TagStatusText)
	return gwproto.Status(st), text, nil
}

// LookupUser resolves a user id or DN to the user's details.
func (c *Client) LookupUser(ctx context.Context, name string) (User, error) {
	resp, err := c.loggedInCall(ctx, gwproto.Request{Command: "getdetails", Fields: gwproto.Fields{gwproto.String(gwproto.TagUserID, name)}})
	if err != nil {
		return User{}, err
	}
	res, ok := resp.Fields.Find(gwproto.TagResults)
	if !ok {
		return User{}, &ResultError{Command: "getdetails", Code: gwproto.ResultUserNotFound}
	}
	u, ok := contactUser(res.Fields)
	if !ok {
		return User{}, fmt.Errorf("%w: getdetails result has no DN", ErrProtocol)
	}
	c.mu.Lock()
	c.rememberDNLocked(u.UserID, u.DN)
	c.mu.Unlock()
	return u, nil
}

// SendMessage sends an IM to a user id or DN: it looks the user up and
// creates a conference the first time, then reuses both (an IM received from
// that user also supplies the conference). Text beyond MaxMessageBytes is cut,
// as real clients cut it.
func (c *Client) SendMessage(ctx context.Context, to, text string) error {
	dn, err := c.resolveDN(ctx, to)
	if err != nil {
		return err
	}
	text = truncateUTF8(text, MaxMessageBytes)
	for attempt := 0; ; attempt++ {
		guid, err := c.conferenceWith(ctx, dn)
		if err != nil {
			return err
		}
		req := gwproto.Request{Command: "sendmessage", Fields: gwproto.Fields{
			gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, guid)),
			gwproto.Array(gwproto.TagMessage,
				gwproto.String(gwproto.TagMessageBody, gwproto.ToRTF(text)),
				gwproto.Number(gwproto.TagMessageType, 0),
				gwproto.String(gwproto.TagMessageText, text),
			),
			gwproto.DN(gwproto.TagDN, dn),
		}}
		_, err = c.loggedInCall(ctx, req)
		var re *ResultError
		if attempt == 0 && errors.As(err, &re) && re.Code == gwproto.ResultConferenceNotFound {
			c.forgetConference(dn) // the server lost it: create a new one once
			continue
		}
		return err
	}
}

func (c *Client) resolveDN(ctx context.Context, to string) (string, error) {
	if strings.Contains(to, "=") {
		return to, nil // already a DN
	}
	c.mu.Lock()
	dn, ok := c.dnByID[strings.ToLower(to)]
	c.mu.Unlock()
	if ok {
		return dn, nil
	}
	u, err := c.LookupUser(ctx, to)
	if err != nil {
		return "", err
	}
	return u.DN, nil
}

func (c *Client) conferenceWith(ctx context.Context, dn string) (string, error) {
	c.mu.Lock()
	guid, ok := c.confByDN[strings.ToLower(dn)]
	self := c.selfDN
	c.mu.Unlock()
	if ok {
		return guid, nil
	}
	resp, err := c.loggedInCall(ctx, gwproto.Request{Command: "createconf", Fields: gwproto.Fields{
		gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, gwproto.BlankGUID)),
		gwproto.DN(gwproto.TagDN, dn),
		gwproto.DN(gwproto.TagDN, self),
	}})
	if err != nil {
		return "", err
	}
	conv, _ := resp.Fields.Find(gwproto.TagConversation)
	guid, ok = conv.Fields.Str(gwproto.TagObjectID)
	if !ok || guid == "" {
		return "", fmt.Errorf("%w: createconf answer has no conference id", ErrProtocol)
	}
	c.rememberConference(dn, guid)
	return guid, nil
}

func (c *Client) rememberConference(dn, guid string) {
	if dn == "" || guid == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.confByDN == nil || len(c.confByDN) >= maxCachedPeers {
		c.confByDN = make(map[string]string, 1) // bounded: start over
	}
	c.confByDN[strings.ToLower(dn)] = guid
}

func (c *Client) forgetConference(dn string) {
	c.mu.Lock()
	delete(c.confByDN, strings.ToLower(dn))
	c.mu.Unlock()
}

func (c *Client) rememberDNLocked(id, dn string) {
	if id == "" || dn == "" {
		return
	}
	if c.dnByID == nil || len(c.dnByID) >= maxCachedPeers {
		c.dnByID = make(map[string]string, 1) // bounded: start over
	}
	c.dnByID[strings.ToLower(id)] = dn
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
