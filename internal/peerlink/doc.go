// Package peerlink is the task-to-task link of the edge fleet: a device
// whose RESUME reached a task that does not hold its session is relayed,
// over one link, to the task that does (the owner, which holds the
// session's GroupWise connection and queued IMs). It owns the link's wire
// format and cryptography (no I/O: wire.go, handshake.go, transport.go),
// its connections with every bound (Conn, Dialer, Server), and their
// counters. It knows devproto's messages, which it carries, but nothing of
// the edge.
//
// # Protocol flow (one relayed device link)
//
//	relaying task (initiator)                          owner (responder)
//	  │ TCP connect to the owner's peer address             │ inbound cap (else REFUSE busy)
//	  │ HELLO: version, key id, Noise NNpsk0 "psk, e"       │
//	  │   payload: relaying task's name                     │
//	  │ ──────────────────────────────────────────────────▶ │ key by id (else REFUSE unknown_key);
//	  │                                                     │ psk proves the initiator (else REFUSE)
//	  │ WELCOME: version, Noise "e, ee"                     │
//	  │   payload: owner's task name                        │
//	  │ ◀────────────────────────────────────────────────── │ forward-secret keys on both sides
//	  │ owner name checked: the token goes to the owner only│
//	  │ DATA RESUME: request id, device key (proved by the  │
//	  │   device's Noise IK), device's RESUME (session id,  │
//	  │   token, timestamp)                                 │
//	  │ ──────────────────────────────────────────────────▶ │ the owner's local resume claim:
//	  │                                                     │ token, key, newer timestamp;
//	  │ DATA ANSWER: SERVER_STATUS for the device's WELCOME │ rotates the token
//	  │   (ACCEPTED: session id, new token, status interval)│
//	  │ ◀────────────────────────────────────────────────── │ (anything else: CLOSE)
//	  │ DATA DEVICE: a message the device sent ───────────▶ │ to the session
//	  │ ◀─────────── DATA GATEWAY: a message for the device │ queued IMs first, then live ones
//	  │ DATA KEEPALIVE either way after idle/3 of silence   │
//	  │ DATA CLOSE either way, then the socket closes       │
//	  │   (from the relaying task, with a reason when the   │ the owner ends the session
//	  │   device broke its protocol)                        │
//
// The whole setup (dial to ANSWER) is bounded by the handshake timeout;
// after it, each frame write by the write timeout and each silence by the
// idle timeout. One link carries one device link, so TCP's own flow control
// is the per-link buffer bound: a device that stops reading backs up only
// its own link, which the owner's write deadline then ends (a coverage
// loss, as on a direct link). There is no multiplexing, hence no
// head-of-line blocking between devices and no window bookkeeping; the
// price is one socket per relayed device link, capped in each direction.
//
// # Frame layout
//
// Every frame is length-prefixed, as on the device link:
//
//	┌───────────────┬───────┬──────────────────────────┐
//	│ length (BE16) │ kind  │ body (length-1 bytes)    │
//	└───────────────┴───────┴──────────────────────────┘
//
// HELLO (0x01) body: version, key id (4), Noise message 1. WELCOME (0x02):
// version, Noise message 2. REFUSE (0x03, clear, a hint): version, reason.
// DATA from the initiator (0x04) or the responder (0x05): ChaCha20-Poly1305
// ciphertext of type (1 byte) ‖ body, with the 3-byte header as associated
// data and a counter nonce per direction, so a tampered, replayed,
// reordered or reflected frame fails. Bodies: RESUME: request id (1-byte
// length), device key (32), devproto payload of the RESUME; ANSWER:
// devproto payload of the SERVER_STATUS; DEVICE and GATEWAY: devproto
// payload of the message (the form a device DATA frame encrypts, so one
// codec and one set of limits serve both links); KEEPALIVE: empty; CLOSE:
// empty, or — from the relaying task — one byte saying the device broke its
// protocol and why, so that the owner ends the session (as it would for its
// own device link) instead of waiting for a resume.
//
// # Keys and rotation
//
// Every task holds the same 32-byte pre-shared key (COLLABGW_PEER_KEY, from
// Secrets Manager). Noise NNpsk0 mixes it into the first message, so only a
// holder can open a link and only a holder can answer one; the ephemeral
// exchange makes the session keys forward secret, so a key that leaks later
// does not open recorded links. The key id (a hash prefix of the key) tells
// the responder which key the initiator used. To rotate without refusing a
// single link, deploy three times:
//
//  1. KEY=old, NEXT=new: every task dials with old and accepts both.
//  2. KEY=new, NEXT=old: tasks dial with new; tasks of step 1 still
//     running accept it (it is their NEXT), and new ones accept old.
//  3. KEY=new, no NEXT: once no task of step 1 runs.
//
// A task that holds neither key of its peer refuses with unknown_key, and
// both sides count it (PeerLinksIn/PeerLinksOut, Reason unknown_key and
// refused_key).
package peerlink
