package gwproto

import (
	"strconv"
	"strings"
)

// Type is the value type of a field, the same number in requests and responses.
type Type uint8

// Field types.
const (
	TypeInvalid Type = 0
	TypeNumber  Type = 1
	TypeBinary  Type = 2 // never written in requests
	TypeByte    Type = 3
	TypeUByte   Type = 4
	TypeWord    Type = 5
	TypeUWord   Type = 6
	TypeDWord   Type = 7
	TypeUDWord  Type = 8
	TypeArray   Type = 9 // sub-fields
	TypeUTF8    Type = 10
	TypeBool    Type = 11
	TypeMV      Type = 12 // multi-valued: sub-fields, like an array
	TypeDN      Type = 13 // a distinguished name, a string
)

// IsContainer reports whether fields of type t hold sub-fields.
func (t Type) IsContainer() bool { return t == TypeArray || t == TypeMV }

// IsString reports whether fields of type t hold a string.
func (t Type) IsString() bool { return t == TypeUTF8 || t == TypeDN }

// Method is a field's method as the server numbers it. Responses carry the
// number; requests carry a one-character code (see methodCodes).
type Method uint8

// Field methods.
const (
	MethodValid      Method = 0
	MethodIgnore     Method = 1 // never written in requests
	MethodDelete     Method = 2
	MethodDeleteAll  Method = 3
	MethodEqual      Method = 4
	MethodAdd        Method = 5
	MethodUpdate     Method = 6
	MethodGTE        Method = 10
	MethodLTE        Method = 12
	MethodNE         Method = 14
	MethodExist      Method = 15
	MethodNotExist   Method = 16
	MethodSearch     Method = 17
	MethodMatchBegin Method = 19
	MethodMatchEnd   Method = 20
	MethodNotArray   Method = 40
	MethodOrArray    Method = 41
	MethodAndArray   Method = 42
)

// methodCodes maps a method to the character a request carries for it.
var methodCodes = map[Method]byte{
	MethodValid: '0', MethodAdd: '1', MethodDelete: '2', MethodDeleteAll: '3',
	MethodAndArray: '4', MethodOrArray: '5', MethodNotArray: '6', MethodMatchEnd: '7',
	MethodMatchBegin: '8', MethodSearch: '9', MethodNotExist: 'A', MethodExist: 'B',
	MethodNE: 'C', MethodLTE: 'D', MethodGTE: 'E', MethodUpdate: 'F', MethodEqual: 'G',
}

// methodByCode is the inverse of methodCodes, for the server's parser.
var methodByCode = func() map[byte]Method {
	m := make(map[byte]Method, len(methodCodes))
	for meth, c := range methodCodes {
		m[c] = meth
	}
	return m
}()

// Field tags used by the commands a session needs. Tags are matched
// case-insensitively on receipt, as real clients do.
const (
	TagTransactionID  = "NM_A_SZ_TRANSACTION_ID"
	TagResultCode     = "NM_A_SZ_RESULT_CODE"
	TagUserID         = "NM_A_SZ_USERID"
	TagCredentials    = "NM_A_SZ_CREDENTIALS" //nolint:gosec // a field name, not a secret
	TagUserAgent      = "NM_A_SZ_USER_AGENT"
	TagBuild          = "NM_A_UD_BUILD"
	TagIPAddress      = "nnmIPAddress"
	TagDN             = "NM_A_SZ_DN"
	TagAuthAttribute  = "NM_A_SZ_AUTH_ATTRIBUTE"
	TagCN             = "CN"
	TagGivenName      = "Given Name"
	TagSurname        = "Surname"
	TagFullName       = "Full Name"
	TagStatus         = "NM_A_SZ_STATUS"
	TagStatusText     = "NM_A_SZ_STATUS_TEXT"
	TagMessageBody    = "NM_A_SZ_MESSAGE_BODY"
	TagMessageText    = "NM_A_SZ_MESSAGE_TEXT"
	TagMessageType    = "NM_A_UD_MESSAGE_TYPE"
	TagContactList    = "NM_A_FA_CONTACT_LIST"
	TagFolder         = "NM_A_FA_FOLDER"
	TagContact        = "NM_A_FA_CONTACT"
	TagObjectID       = "NM_A_SZ_OBJECT_ID"
	TagParentID       = "NM_A_SZ_PARENT_ID"
	TagSequenceNumber = "NM_A_SZ_SEQUENCE_NUMBER"
	TagDisplayName    = "NM_A_SZ_DISPLAY_NAME"
	TagUserDetails    = "NM_A_FA_USER_DETAILS"
	TagKeepalive      = "NM_A_UD_KEEPALIVE"
	TagConversation   = "NM_A_FA_CONVERSATION"
	TagMessage        = "NM_A_FA_MESSAGE"
	TagResults        = "NM_A_FA_RESULTS"
	TagType           = "NM_A_SZ_TYPE"
)

// ProtocolBuild is the NM_A_UD_BUILD a client sends: the GroupWise 6.5 level
// that Pidgin speaks. Higher builds make servers send GroupWise 7 events that
// such clients cannot parse.
const ProtocolBuild = 2

// BlankGUID is the conference id that means "not created yet".
const BlankGUID = "[00000000-00000000-00000000-0000-0000]"

// GUIDCompareLen is how many leading characters of two GUIDs real clients
// compare to decide they name the same conference.
const GUIDCompareLen = 27

// Status is a presence status, sent as a decimal string.
type Status int

// Presence statuses.
const (
	StatusUnknown   Status = 0
	StatusOffline   Status = 1
	StatusAvailable Status = 2
	StatusBusy      Status = 3
	StatusAway      Status = 4
	StatusIdle      Status = 5
)

// Field is one tagged value. Exactly one of Value (numbers), Str (UTF8, DN)
// or Fields (ARRAY, MV) is meaningful, chosen by Type.
type Field struct {
	Tag    string
	Method Method
	Type   Type
	Value  uint32
	Str    string
	Fields Fields
}

// Fields is an ordered list of fields; order matters to real clients.
type Fields []Field

// String returns a UTF8 field.
func String(tag, s string) Field { return Field{Tag: tag, Type: TypeUTF8, Str: s} }

// DN returns a DN field.
func DN(tag, s string) Field { return Field{Tag: tag, Type: TypeDN, Str: s} }

// Number returns a UDWORD field.
func Number(tag string, v uint32) Field { return Field{Tag: tag, Type: TypeUDWord, Value: v} }

// Array returns an ARRAY field holding sub.
func Array(tag string, sub ...Field) Field { return Field{Tag: tag, Type: TypeArray, Fields: sub} }

// Find returns the first field whose tag equals tag, ignoring case.
func (fs Fields) Find(tag string) (Field, bool) {
	for _, f := range fs {
		if strings.EqualFold(f.Tag, tag) {
			return f, true
		}
	}
	return Field{}, false
}

// All returns every field whose tag equals tag, ignoring case.
func (fs Fields) All(tag string) Fields {
	var out Fields
	for _, f := range fs {
		if strings.EqualFold(f.Tag, tag) {
			out = append(out, f)
		}
	}
	return out
}

// Str returns the string value of the first field tagged tag. A multi-valued
// field yields its first string, as real clients read it.
func (fs Fields) Str(tag string) (string, bool) {
	f, ok := fs.Find(tag)
	if !ok {
		return "", false
	}
	if f.Type.IsString() {
		return f.Str, true
	}
	if f.Type == TypeMV && len(f.Fields) > 0 && f.Fields[0].Type.IsString() {
		return f.Fields[0].Str, true
	}
	return "", false
}

// Uint returns a numeric field, or a string field holding a decimal number.
func (fs Fields) Uint(tag string) (uint32, bool) {
	f, ok := fs.Find(tag)
	if !ok {
		return 0, false
	}
	if f.Type.IsString() {
		n, err := strconv.ParseUint(f.Str, 10, 32)
		return uint32(n), err == nil
	}
	if f.Type.IsContainer() {
		return 0, false
	}
	return f.Value, true
}
