// Package edge is the gateway's long-lived server (the ECS service): it owns
// the device links on port 3101, the GroupWise TLS link of every session,
// and the lifecycle that ties them together — admission through the
// authorize function, relaying IMs both ways, coverage loss and resume,
// its task's lease heartbeat, release of every slot it was given, and a drain on
// shutdown. edge/main.go only wires the environment into New and Run.
//
// # Protocol flow (one login)
//
//	device            edge                                 Lambda / DynamoDB      GroupWise
//	  │ TCP connect    │ conn cap (sheds silent handshakes),   │                     │
//	  │                │ per-address rate                      │                     │
//	  │ HELLO(LOGIN) ─▶│ Noise IK (devconn), skew, per-device  │                     │
//	  │                │ rate ─── authorize(request id, key,   │                     │
//	  │                │         timestamp, token hash) ─────▶ │ device, permission, │
//	  │                │ ◀──── decision (session, lease, pool) │ limits, eviction    │
//	  │                │ ACCEPTED: TLS dial + login(password) ────────────────────▶ │
//	  │                │   refused/locked/unreachable: release ▶│ (slot freed)       │
//	  │ ◀─ WELCOME ────│ ACCEPTED(session id, resume token) or the refusal           │
//	  │ SEND_IM ──────▶│ sendmessage ─────────────────────────────────────────────▶ │
//	  │ ◀─ RECEIVE_IM ─│ ◀──────────────────────────────────────────── event 108/121│
//	  │ STATUS ───────▶│ setstatus; nothing written (SetActivity only when silent    │
//	  │                │ for 2 STATUS intervals, and at the STATUS that ends it)     │
//	  │   (drop)       │ SetActivity(out); GroupWise stays; IMs queue (bounded)      │
//	  │ HELLO(RESUME)─▶│ token, key, timestamp checked locally; SetActivity(in);    │
//	  │ ◀─ queued IMs ─│ no new GroupWise login                                      │
//	  │                │ every heartbeat: RenewTaskLease (one write per task), then  │
//	  │                │ Reconcile(held) ─▶ gone → LOGGED_OUT                         │
//	  │                │   stray (stored for it, not held, past a login) → release   │
//
// # Protocol flow (RESUME on a task that does not hold the session)
//
//	device        task B (reached)                  store           task A (owner)
//	  │ HELLO(RESUME)─▶│ Noise IK, skew, device rate    │                 │
//	  │                │ LocateSession ───────────────▶ │ owner A, addr,  │
//	  │                │ ◀──────────────────────────────│ lease live?     │
//	  │                │   none / B / dead → LOGGED_OUT                   │
//	  │                │ peerlink NNpsk0 (shared key) ───────────────────▶│ name checked
//	  │                │ RESUME(device key, token, ts) ──────────────────▶│ claim: token, key,
//	  │                │ ◀────────────────── ANSWER(ACCEPTED, new token) ─│ newer ts; rotate
//	  │ ◀─ WELCOME ────│ (the owner's answer)                             │
//	  │ ◀─ queued IMs, live IMs, PONG, SERVER_STATUS ◀───────────────────│ link = deviceLink
//	  │ SEND_IM, STATUS, PING, LOGOUT ─▶───────────────────────────────▶ │ as if local
//	  │   (drop)       │ CLOSE ──────────────────────────────────────────▶│ coverage loss
//
// # Goroutines and memory
//
// A held session costs one goroutine reading its device link (none while
// out of coverage) plus the GroupWise client's reader; the device link is
// a deviceLink, the device's own connection or another task's relay of it
// (relay.go). A relayed device costs the relaying task two goroutines, one
// per direction, and no queue: each copy waits for the other side's write. There is no writer
// goroutine per session: a writer starts when a message is queued for an
// attached device and exits when the queue is empty, so an idle session
// holds no writer stack and no queue storage. Reader and writer are joined
// through the link: a failed write closes it, which ends the reader, which
// detaches the session; a detached session's writer finds no link and stops.
package edge
