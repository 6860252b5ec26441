package edge

import (
	"context"

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
	// Reconcile returns the held sessions the store no longer has for this
	// task (ended elsewhere).
	Reconcile(ctx context.Context, task string, held []admission.SessionRef) (gone []admission.SessionRef, err error)
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
