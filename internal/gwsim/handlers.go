package gwsim

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// maxConferences bounds the conference table; clients create one per peer.
const maxConferences = 100_000

// handledCommands are the commands the simulator models.
var handledCommands = map[string]bool{
	"login": true, "ping": true, "setstatus": true, "getstatus": true, "getdetails": true,
	"createconf": true, "sendmessage": true, "sendtyping": true,
	"leaveconf": true, "joinconf": true, "rejectconf": true, "updateblocks": true,
}

// handle answers one request; false closes the connection.
func (c *session) handle(req gwproto.Request) bool {
	c.srv.mu.Lock()
	loggedIn := c.user != nil
	if handledCommands[req.Command] {
		c.srv.requests[req.Command]++
	} else {
		c.srv.requests["other"]++
	}
	c.srv.mu.Unlock()
	if req.Command == "login" {
		if loggedIn {
			c.respond(req, gwproto.ResultNotSupported)
			return true
		}
		return c.login(req)
	}
	if !loggedIn {
		// A real server refuses anything before login; so do we, and hang up.
		c.respond(req, gwproto.ResultCredentialsMissing)
		return false
	}
	switch req.Command {
	case "ping":
		c.respond(req, gwproto.ResultOK)
	case "setstatus":
		c.setStatus(req)
	case "getstatus":
		c.getStatus(req)
	case "getdetails":
		c.getDetails(req)
	case "createconf":
		c.createConf(req)
	case "sendmessage":
		c.sendMessage(req)
	case "sendtyping":
		c.sendTyping(req)
	case "leaveconf", "joinconf", "rejectconf", "updateblocks":
		c.respond(req, gwproto.ResultOK) // accepted, nothing to model
	default:
		c.respond(req, gwproto.ResultNotSupported)
	}
	return true
}

func (c *session) login(req gwproto.Request) bool {
	s := c.srv
	if d := s.cfg.loginDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-c.done:
			return false
		}
	}
	id, _ := req.Fields.Str(gwproto.TagUserID)
	password, _ := req.Fields.Str(gwproto.TagCredentials)
	log := s.cfg.log.With("user", id, "remote", c.raw.RemoteAddr().String())
	code := gwproto.ResultOK
	u, ok := s.lookup(id)
	switch {
	case id == "" || password == "":
		code = gwproto.ResultCredentialsMissing
	case !ok:
		code = gwproto.ResultUserNotFound
	case u.state == accountLocked:
		code = gwproto.ResultAccessDenied
	case u.state == accountAdminLocked:
		code = gwproto.ResultAdminLocked
	case u.state == accountDisabled:
		code = gwproto.ResultUserDisabled
	case u.password != password:
		code = gwproto.ResultPasswordInvalid
	}
	var kicked []*session
	if code == gwproto.ResultOK {
		s.mu.Lock()
		switch {
		case s.cfg.maxConnections > 0 && s.loggedIn >= s.cfg.maxConnections:
			code = gwproto.ResultServerBusy
		case s.closed:
			code = gwproto.ResultServerBusy
		default:
			if s.cfg.kickDuplicate {
				kicked = s.sessions[u.id]
				delete(s.sessions, u.id)
				s.loggedIn -= len(kicked)
				for _, k := range kicked {
					k.user = nil // so removeSession does not count it twice
				}
			}
			c.user = u
			c.status = gwproto.StatusAvailable
			s.sessions[u.id] = append(s.sessions[u.id], c)
			s.loggedIn++
			s.logins[u.id]++
			for _, ct := range s.cfg.contacts[u.id] {
				c.watched[s.users[ct].dn] = true
			}
		}
		s.mu.Unlock()
	}
	if code != gwproto.ResultOK {
		log.Info("login refused", "result", code)
		c.respond(req, code)
		c.observeLogin(id, code)
		return false
	}
	for _, k := range kicked {
		// The source must not be empty, or Pidgin silently drops the event.
		k.sendEvent(gwproto.Event{Type: gwproto.EventUserDisconnect, Source: u.dn})
		k.close()
	}
	log.Info("login", "kicked", len(kicked))
	fs := userFields(u, gwproto.StatusAvailable, "")
	if m := s.cfg.keepaliveMinutes; m > 0 {
		fs = append(fs, gwproto.Number(gwproto.TagKeepalive, m))
	}
	if list := s.contactList(u.id); len(list.Fields) > 0 {
		fs = append(fs, list)
	}
	// Result code and transaction id come first: Pidgin takes a first field
	// that is an array for the user's own details.
	c.respond(req, gwproto.ResultOK, fs...)
	c.observeLogin(id, gwproto.ResultOK)
	return true
}

// userFields are a user's details as login and getdetails return them. The
// AUTH_ATTRIBUTE makes Pidgin show "alice" rather than a dotted DN.
func userFields(u *user, st gwproto.Status, text string) gwproto.Fields {
	fs := gwproto.Fields{
		gwproto.DN(gwproto.TagDN, u.dn),
		gwproto.String(gwproto.TagAuthAttribute, u.id),
		gwproto.String(gwproto.TagCN, u.id),
		gwproto.String(gwproto.TagGivenName, u.id),
		gwproto.String(gwproto.TagSurname, "Simulated"),
		gwproto.String(gwproto.TagFullName, u.id+" Simulated"),
		gwproto.String(gwproto.TagStatus, strconv.Itoa(int(st))),
	}
	if text != "" {
		fs = append(fs, gwproto.String(gwproto.TagMessageBody, text))
	}
	return fs
}

// contactList builds the login contact list: one folder holding the
// configured contacts, each with its details.
func (s *Server) contactList(id string) gwproto.Field {
	list := gwproto.Array(gwproto.TagContactList)
	cts := s.cfg.contacts[id]
	if len(cts) == 0 {
		return list
	}
	list.Fields = append(list.Fields, gwproto.Array(gwproto.TagFolder,
		gwproto.String(gwproto.TagObjectID, "1"),
		gwproto.String(gwproto.TagParentID, "0"),
		gwproto.String(gwproto.TagSequenceNumber, "0"),
		gwproto.String(gwproto.TagDisplayName, "Contacts"),
	))
	for i, ct := range cts {
		u := s.users[ct]
		st, text := s.presence(u)
		list.Fields = append(list.Fields, gwproto.Array(gwproto.TagContact,
			gwproto.String(gwproto.TagObjectID, strconv.Itoa(i+2)),
			gwproto.String(gwproto.TagParentID, "1"),
			gwproto.String(gwproto.TagSequenceNumber, strconv.Itoa(i)),
			gwproto.DN(gwproto.TagDN, u.dn),
			gwproto.String(gwproto.TagDisplayName, u.id),
			gwproto.Array(gwproto.TagUserDetails, userFields(u, st, text)...),
		))
	}
	return list
}

// presence returns a user's status: that of its newest session, else offline.
func (s *Server) presence(u *user) (gwproto.Status, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presenceLocked(u)
}

func (s *Server) presenceLocked(u *user) (gwproto.Status, string) {
	list := s.sessions[u.id]
	if len(list) == 0 {
		return gwproto.StatusOffline, ""
	}
	last := list[len(list)-1]
	return last.status, last.statusText
}

func (c *session) setStatus(req gwproto.Request) {
	st, ok := req.Fields.Uint(gwproto.TagStatus)
	if !ok || st > uint32(gwproto.StatusIdle) {
		c.respond(req, gwproto.ResultClientBadParm)
		return
	}
	text, _ := req.Fields.Str(gwproto.TagStatusText)
	auto, _ := req.Fields.Str(gwproto.TagMessageBody)
	s := c.srv
	s.mu.Lock()
	c.status, c.statusText, c.autoReply = gwproto.Status(st), text, auto
	dn := c.user.dn
	var watchers []*session
	for other := range s.conns {
		if other != c && other.user != nil && other.watched[dn] {
			watchers = append(watchers, other)
		}
	}
	s.mu.Unlock()
	c.respond(req, gwproto.ResultOK)
	for _, w := range watchers {
		w.sendEvent(gwproto.Event{Type: gwproto.EventStatusChange, Source: dn, Status: gwproto.Status(st), Text: text})
	}
}

func (c *session) getStatus(req gwproto.Request) {
	dn, _ := req.Fields.Str(gwproto.TagDN)
	u, ok := c.srv.lookup(dn)
	if !ok {
		c.respond(req, gwproto.ResultUserNotFound)
		return
	}
	st, text := c.srv.presence(u)
	extra := gwproto.Fields{gwproto.String(gwproto.TagStatus, strconv.Itoa(int(st)))}
	if text != "" {
		extra = append(extra, gwproto.String(gwproto.TagStatusText, text))
	}
	c.respond(req, gwproto.ResultOK, extra...)
}

// getDetails resolves every NM_A_SZ_USERID and NM_A_SZ_DN: Pidgin puts full
// DNs in NM_A_SZ_USERID too.
func (c *session) getDetails(req gwproto.Request) {
	s := c.srv
	var results gwproto.Fields
	for _, f := range req.Fields {
		if !strings.EqualFold(f.Tag, gwproto.TagUserID) && !strings.EqualFold(f.Tag, gwproto.TagDN) {
			continue
		}
		u, ok := s.lookup(f.Str)
		if !ok {
			continue
		}
		s.mu.Lock()
		st, text := s.presenceLocked(u)
		c.watched[u.dn] = true
		s.mu.Unlock()
		results = append(results, gwproto.Array(gwproto.TagResults, userFields(u, st, text)...))
	}
	if len(results) == 0 {
		c.respond(req, gwproto.ResultUserNotFound)
		return
	}
	c.respond(req, gwproto.ResultOK, results...)
}

// createConf opens a conference of the DNs named plus the caller.
func (c *session) createConf(req gwproto.Request) {
	s := c.srv
	s.mu.Lock()
	own := c.user.dn
	s.mu.Unlock()
	participants := []string{own}
	for _, f := range req.Fields.All(gwproto.TagDN) {
		u, ok := s.lookup(f.Str)
		if !ok {
			c.respond(req, gwproto.ResultUserNotFound)
			return
		}
		if !containsFold(participants, u.dn) {
			participants = append(participants, u.dn)
		}
	}
	guid := newGUID()
	s.mu.Lock()
	if len(s.confs) >= maxConferences {
		for k := range s.confs { // forget an arbitrary one; clients recreate on 53547
			delete(s.confs, k)
			break
		}
	}
	s.confs[guidKey(guid)] = participants
	s.mu.Unlock()
	// The conversation comes first: Pidgin reads the GUID from the first
	// field and crashes when the result code is there.
	fs := gwproto.Fields{gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, guid))}
	fs = append(fs, resultFields(req, gwproto.ResultOK)...)
	c.writeResponse(req.Command, fs)
}

// conference returns the GUID and participants of the request's conversation.
func (c *session) conference(req gwproto.Request) (string, []string, bool) {
	conv, ok := req.Fields.Find(gwproto.TagConversation)
	if !ok {
		return "", nil, false
	}
	guid, _ := conv.Fields.Str(gwproto.TagObjectID)
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	parts, ok := c.srv.confs[guidKey(guid)]
	return guid, parts, ok
}

func (c *session) sendMessage(req gwproto.Request) {
	guid, parts, ok := c.conference(req)
	if !ok {
		c.respond(req, gwproto.ResultConferenceNotFound)
		return
	}
	msg, _ := req.Fields.Find(gwproto.TagMessage)
	body, ok := msg.Fields.Str(gwproto.TagMessageBody)
	if !ok {
		text, _ := msg.Fields.Str(gwproto.TagMessageText)
		body = gwproto.ToRTF(text)
	}
	s := c.srv
	s.mu.Lock()
	from := c.user.dn
	type delivery struct {
		to   []*session
		auto string
		dn   string
	}
	var out []delivery
	for _, dn := range parts {
		if strings.EqualFold(dn, from) {
			continue
		}
		to := s.sessionsOfLocked(dn)
		d := delivery{to: append([]*session(nil), to...), dn: dn}
		if len(to) > 0 {
			last := to[len(to)-1]
			if last.autoReply != "" && last.status != gwproto.StatusAvailable {
				d.auto = last.autoReply
			}
		}
		out = append(out, d)
	}
	s.mu.Unlock()
	c.respond(req, gwproto.ResultOK)
	for _, d := range out {
		if len(d.to) == 0 {
			c.sendEvent(gwproto.Event{Type: gwproto.EventUndeliverable, Source: d.dn, GUID: guid})
			continue
		}
		for _, t := range d.to {
			t.sendEvent(gwproto.Event{Type: gwproto.EventReceiveMessage, Source: from, GUID: guid, Text: body})
		}
		if d.auto != "" {
			c.sendEvent(gwproto.Event{Type: gwproto.EventReceiveAutoReply, Source: d.dn, GUID: guid, Text: d.auto})
		}
	}
}

func (c *session) sendTyping(req gwproto.Request) {
	guid, parts, ok := c.conference(req)
	if !ok {
		c.respond(req, gwproto.ResultConferenceNotFound)
		return
	}
	conv, _ := req.Fields.Find(gwproto.TagConversation)
	typ := gwproto.EventUserTyping
	if t, _ := conv.Fields.Str(gwproto.TagType); t == strconv.Itoa(int(gwproto.EventUserNotTyping)) {
		typ = gwproto.EventUserNotTyping
	}
	s := c.srv
	s.mu.Lock()
	from := c.user.dn
	var to []*session
	for _, dn := range parts {
		if !strings.EqualFold(dn, from) {
			to = append(to, s.sessionsOfLocked(dn)...)
		}
	}
	s.mu.Unlock()
	c.respond(req, gwproto.ResultOK)
	for _, t := range to {
		t.sendEvent(gwproto.Event{Type: typ, Source: from, GUID: guid})
	}
}

// newGUID returns a conference id in the form real servers use.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return "[" + h[0:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:28] + "-" + h[28:32] + "]"
}

// guidKey is the part of a GUID clients compare.
func guidKey(guid string) string {
	if len(guid) > gwproto.GUIDCompareLen {
		guid = guid[:gwproto.GUIDCompareLen]
	}
	return strings.ToUpper(guid)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
