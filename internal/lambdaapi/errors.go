package lambdaapi

import (
	"errors"
	"fmt"

	"github.com/collabgw/collabgw/internal/admission"
)

// The Lambda runtime reports a handler error's Go type name as errorType,
// so each kind of failure has its own type and callers tell them apart by
// that name.
const (
	ErrorTypeBadEvent    = "BadEventError"
	ErrorTypeConfig      = "ConfigError"
	ErrorTypeUnavailable = "UnavailableError"
	// ErrorTypeInternal names, in metrics, every other failure (a bug).
	ErrorTypeInternal = "InternalError"
)

// BadEventError is an event the function cannot accept: malformed JSON,
// unknown or missing fields. Retrying the same event fails the same way.
type BadEventError struct {
	Reason string
}

func (e *BadEventError) Error() string { return "bad event: " + e.Reason }

// ConfigError is a deployment problem, such as a user whose pool has no
// configuration. An operator must fix it; retrying does not help.
type ConfigError struct {
	Err error
}

func (e *ConfigError) Error() string { return "configuration error: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// UnavailableError means the store failed or was contended; the same event
// may be retried (authorize is idempotent per request id).
type UnavailableError struct {
	Err error
}

func (e *UnavailableError) Error() string { return "temporarily unavailable: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// classify turns a store error into the typed error a caller can act on.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case admission.Retryable(err):
		return &UnavailableError{Err: err}
	case errors.Is(err, admission.ErrUnknownPool), errors.Is(err, admission.ErrInvalidConfig):
		return &ConfigError{Err: err}
	case errors.Is(err, admission.ErrInvalidRequest):
		return &BadEventError{Reason: err.Error()}
	default:
		return fmt.Errorf("internal error: %w", err)
	}
}
