package gwproto

import "strconv"

// ResultCode is the value of NM_A_SZ_RESULT_CODE. Server codes are 0xD100+n;
// client-side codes (which never travel) are 0x2000+n.
type ResultCode uint32

// Result codes, as GroupWise Messaging Agents send them.
const (
	ResultOK                       ResultCode = 0
	ResultAccessDenied             ResultCode = 53510 // locked after too many bad passwords
	ResultNotSupported             ResultCode = 53514
	ResultPasswordExpired          ResultCode = 53515
	ResultPasswordInvalid          ResultCode = 53516
	ResultUserNotFound             ResultCode = 53517
	ResultUserDisabled             ResultCode = 53520
	ResultDirectoryFailure         ResultCode = 53521
	ResultHostNotFound             ResultCode = 53529
	ResultAdminLocked              ResultCode = 53532
	ResultDuplicateParticipant     ResultCode = 53535
	ResultServerBusy               ResultCode = 53539
	ResultObjectNotFound           ResultCode = 53540
	ResultConferenceNotFound       ResultCode = 53547
	ResultServerProtocol           ResultCode = 53552 // incompatible version
	ResultConversationInvite       ResultCode = 53557 // recipient offline or blocking
	ResultUserBlocked              ResultCode = 53561
	ResultPasswordExpired2         ResultCode = 53570
	ResultCredentialsMissing       ResultCode = 53574
	ResultAuthenticationFailed     ResultCode = 53577
	ResultEvalConnectionLimit      ResultCode = 53578
	ResultUnsupportedClientVersion ResultCode = 53579

	ResultClientBadParm            ResultCode = 0x2001
	ResultClientTCPWrite           ResultCode = 0x2002
	ResultClientTCPRead            ResultCode = 0x2003
	ResultClientProtocol           ResultCode = 0x2004
	ResultClientServerRedirect     ResultCode = 0x2005
	ResultClientConferenceNotFound ResultCode = 0x2006
	ResultClientNotInstantiated    ResultCode = 0x2007
	ResultClientFolderExists       ResultCode = 0x2008
)

var resultNames = map[ResultCode]string{
	ResultOK:                       "OK",
	ResultAccessDenied:             "ACCESS_DENIED",
	ResultNotSupported:             "NOT_SUPPORTED",
	ResultPasswordExpired:          "PASSWORD_EXPIRED",
	ResultPasswordInvalid:          "PASSWORD_INVALID",
	ResultUserNotFound:             "USER_NOT_FOUND",
	ResultUserDisabled:             "USER_DISABLED",
	ResultDirectoryFailure:         "DIRECTORY_FAILURE",
	ResultHostNotFound:             "HOST_NOT_FOUND",
	ResultAdminLocked:              "ADMIN_LOCKED",
	ResultDuplicateParticipant:     "DUPLICATE_PARTICIPANT",
	ResultServerBusy:               "SERVER_BUSY",
	ResultObjectNotFound:           "OBJECT_NOT_FOUND",
	ResultConferenceNotFound:       "CONFERENCE_NOT_FOUND",
	ResultServerProtocol:           "SERVER_PROTOCOL",
	ResultConversationInvite:       "CONVERSATION_INVITE",
	ResultUserBlocked:              "USER_BLOCKED",
	ResultPasswordExpired2:         "PASSWORD_EXPIRED",
	ResultCredentialsMissing:       "CREDENTIALS_MISSING",
	ResultAuthenticationFailed:     "AUTHENTICATION_FAILED",
	ResultEvalConnectionLimit:      "EVAL_CONNECTION_LIMIT",
	ResultUnsupportedClientVersion: "UNSUPPORTED_CLIENT_VERSION",
	ResultClientBadParm:            "BAD_PARM",
	ResultClientTCPWrite:           "TCP_WRITE",
	ResultClientTCPRead:            "TCP_READ",
	ResultClientProtocol:           "PROTOCOL",
	ResultClientServerRedirect:     "SERVER_REDIRECT",
	ResultClientConferenceNotFound: "CONFERENCE_NOT_FOUND",
	ResultClientNotInstantiated:    "NOT_INSTANTIATED",
	ResultClientFolderExists:       "FOLDER_EXISTS",
}

// String returns the protocol's name for the code and its number.
func (c ResultCode) String() string {
	n := strconv.FormatUint(uint64(c), 10)
	if name, ok := resultNames[c]; ok {
		return name + " (" + n + ")"
	}
	return "result " + n
}

// IsBadCredentials reports whether real clients treat c as a wrong user id or
// password (no automatic retry).
func (c ResultCode) IsBadCredentials() bool {
	return c == ResultPasswordInvalid || c == ResultCredentialsMissing || c == ResultAuthenticationFailed
}

// IsLocked reports whether c means the account is locked or disabled.
func (c ResultCode) IsLocked() bool {
	return c == ResultAccessDenied || c == ResultAdminLocked || c == ResultUserDisabled
}
