package edge

import (
	"context"
	"errors"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/lambdaapi"
)

// Authorizer decides logins: the authorize function.
type Authorizer interface {
	Authorize(ctx context.Context, req lambdaapi.AuthorizeRequest) (lambdaapi.AuthorizeResponse, error)
}

// Releaser ends sessions and frees their slots: the release function. It
// must be idempotent.
type Releaser interface {
	Release(ctx context.Context, req lambdaapi.ReleaseRequest) error
}

// LeaseStore is what the edge reads and writes directly: its task's lease
// item (one write per heartbeat, whatever it holds), the reconciliation of
// its sessions against the store, and its sessions' activity (written only
// when it changes: coverage lost or back, silent, STATUS after silence) and
// connectivity.
type LeaseStore interface {
	// RenewTaskLease extends this task's lease and records the address
	// other tasks reach it at.
	RenewTaskLease(ctx context.Context, task, addr string) (admission.TaskLease, error)
	// ExpireTaskLease ends this task's lease when it stops.
	ExpireTaskLease(ctx context.Context, task string) error
	// Reconcile returns the held sessions the store no longer has for
	// this task (ended elsewhere), and the strays: sessions the store has
	// for this task that it does not hold.
	Reconcile(ctx context.Context, task string, held []admission.SessionRef) (gone, strays []admission.SessionRef, err error)
	SetActivity(ctx context.Context, owner string, ref admission.SessionRef, a admission.Activity) error
	SetConnectivity(ctx context.Context, owner string, ref admission.SessionRef, c admission.Connectivity) error
}

var _ LeaseStore = (*admission.Store)(nil)

// GroupWise is one logged-in GroupWise Messenger connection.
type GroupWise interface {
	SendMessage(ctx context.Context, to, text string) error
	SetStatus(ctx context.Context, st gwproto.Status, text, autoReply string) error
	Close() error
	Done() <-chan struct{}
	Err() error
}

var _ GroupWise = (*gwclient.Client)(nil)

// GroupWiseLogin is everything needed to log one user in to GroupWise.
type GroupWiseLogin struct {
	Target   lambdaapi.GroupWise
	Pool     string // for metrics
	UserID   string
	Password string // kept only for the call, never logged
	DeviceIP string
	// Events receives the connection's server events, on its reader.
	Events gwclient.EventHandler
}

// GroupWiseDialer opens a GroupWise connection and logs the user in. On
// error nothing stays open; errors match the gwclient sentinels.
type GroupWiseDialer interface {
	Login(ctx context.Context, l GroupWiseLogin) (GroupWise, gwclient.LoginInfo, error)
}

// SessionLocator finds the edge task that holds a session, for a RESUME
// that reached a task that does not: the session store's connectivity
// cache, which names each session's task and each task's peer address and
// lease.
type SessionLocator interface {
	// LocateSession returns the owner of the device's session. A session
	// the store does not have (ended, swept, another device's) is an error
	// matching ErrSessionNotFound or admission.ErrSessionGone; any other
	// error is the store failing, and the device is asked to retry.
	LocateSession(ctx context.Context, deviceID, sessionID string) (SessionOwner, error)
}

// SessionOwner is where a session lives.
type SessionOwner struct {
	Task string // the owning task's name: the owner its lease is held under
	Addr string // its peer address (host:port), as its heartbeat stored it
	Live bool   // its lease has not lapsed
}

// ErrSessionNotFound is a SessionLocator's answer for a session it does
// not have.
var ErrSessionNotFound = errors.New("edge: session not found")

// LocationStore is the store's side of a SessionLocator
// (admission.Store.LocateSession).
type LocationStore interface {
	LocateSession(ctx context.Context, deviceID, sessionID string) (admission.Location, error)
}

var _ LocationStore = (*admission.Store)(nil)

// StoreLocator is the SessionLocator over the session store: the device
// item names the session and its owner task, the owner's lease item its
// peer address and whether the lease runs. A session the store does not
// have comes back as admission.ErrSessionGone.
type StoreLocator struct{ Store LocationStore }

var _ SessionLocator = StoreLocator{}

// LocateSession implements SessionLocator.
func (l StoreLocator) LocateSession(ctx context.Context, deviceID, sessionID string) (SessionOwner, error) {
	loc, err := l.Store.LocateSession(ctx, deviceID, sessionID)
	if err != nil {
		return SessionOwner{}, err
	}
	return SessionOwner{Task: loc.Owner, Addr: loc.Addr, Live: loc.Live}, nil
}
