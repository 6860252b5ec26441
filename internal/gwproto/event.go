package gwproto

import "strconv"

// EventType is the little-endian uint32 that starts a server event.
type EventType uint32

// Event types real clients understand.
const (
	EventInvalidRecipient     EventType = 101
	EventUndeliverable        EventType = 102
	EventStatusChange         EventType = 103
	EventContactAdd           EventType = 104
	EventConferenceClosed     EventType = 105
	EventConferenceJoined     EventType = 106
	EventConferenceLeft       EventType = 107
	EventReceiveMessage       EventType = 108 // RTF text
	EventReceiveFile          EventType = 109
	EventUserTyping           EventType = 112
	EventUserNotTyping        EventType = 113
	EventUserDisconnect       EventType = 114 // signed on from another location
	EventServerDisconnect     EventType = 115
	EventConferenceInvite     EventType = 117
	EventConferenceInviteNote EventType = 118
	EventConferenceReject     EventType = 119
	EventReceiveAutoReply     EventType = 121 // plain text
)

// payload says which values follow an event's source DN.
type payload uint8

const (
	payloadNone payload = iota
	payloadGUID
	payloadGUIDFlags
	payloadGUIDFlagsMessage
	payloadGUIDMessage
	payloadStatus
)

var eventPayloads = map[EventType]payload{
	EventInvalidRecipient:     payloadNone,
	EventUndeliverable:        payloadGUID,
	EventStatusChange:         payloadStatus,
	EventContactAdd:           payloadNone,
	EventConferenceClosed:     payloadGUID,
	EventConferenceJoined:     payloadGUIDFlags,
	EventConferenceLeft:       payloadGUIDFlags,
	EventReceiveMessage:       payloadGUIDFlagsMessage,
	EventReceiveFile:          payloadNone,
	EventUserTyping:           payloadGUID,
	EventUserNotTyping:        payloadGUID,
	EventUserDisconnect:       payloadNone,
	EventServerDisconnect:     payloadNone,
	EventConferenceInvite:     payloadGUIDMessage,
	EventConferenceInviteNote: payloadGUID,
	EventConferenceReject:     payloadGUID,
	EventReceiveAutoReply:     payloadGUIDFlagsMessage,
}

var eventNames = map[EventType]string{
	EventInvalidRecipient:     "INVALID_RECIPIENT",
	EventUndeliverable:        "UNDELIVERABLE_STATUS",
	EventStatusChange:         "STATUS_CHANGE",
	EventContactAdd:           "CONTACT_ADD",
	EventConferenceClosed:     "CONFERENCE_CLOSED",
	EventConferenceJoined:     "CONFERENCE_JOINED",
	EventConferenceLeft:       "CONFERENCE_LEFT",
	EventReceiveMessage:       "RECEIVE_MESSAGE",
	EventReceiveFile:          "RECEIVE_FILE",
	EventUserTyping:           "USER_TYPING",
	EventUserNotTyping:        "USER_NOT_TYPING",
	EventUserDisconnect:       "USER_DISCONNECT",
	EventServerDisconnect:     "SERVER_DISCONNECT",
	EventConferenceInvite:     "CONFERENCE_INVITE",
	EventConferenceInviteNote: "CONFERENCE_INVITE_NOTIFY",
	EventConferenceReject:     "CONFERENCE_REJECT",
	EventReceiveAutoReply:     "RECEIVE_AUTOREPLY",
}

// String returns the protocol's name for the event type.
func (t EventType) String() string {
	if n, ok := eventNames[t]; ok {
		return n
	}
	return "event " + strconv.FormatUint(uint64(t), 10)
}

// Known reports whether t is an event a client can parse.
func (t EventType) Known() bool {
	_, ok := eventPayloads[t]
	return ok
}

// Event is a server-initiated message. Which of GUID, Flags, Status and Text
// are meaningful depends on Type (see
// payload, which says which values follow each type's source DN).
type Event struct {
	Type   EventType
	Source string // DN of the user the event is about
	GUID   string // conference id
	Flags  uint32 // conference flags
	Status Status // STATUS_CHANGE only
	Text   string // message (RTF for 108), invite text, or status text
}
