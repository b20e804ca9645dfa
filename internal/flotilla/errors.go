package flotilla

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The portable error codes. Adapters translate their systems' errors into
// these once; the API maps them to HTTP statuses in one table.
var (
	// ErrNotFound means the definition, run or schedule does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write lost a race or broke a uniqueness rule:
	// a taken alias, a run not in the expected status, a stale revision.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input is malformed; see ValidationError.
	ErrInvalid = errors.New("invalid input")
	// ErrNoCapacity means there is no room to start a run now.
	ErrNoCapacity = errors.New("no capacity")
	// ErrThrottled means a caller or the engine asked too much too fast.
	ErrThrottled = errors.New("throttled")
	// ErrForbidden means the caller is signed in but may not do this.
	ErrForbidden = errors.New("forbidden")
)

// FieldError names one bad field and says what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every bad field of one input. It matches ErrInvalid
// with errors.Is.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true for a ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Add records a bad field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns the error when any field was added, else nil. Fields are sorted
// by name so messages are stable.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	sort.SliceStable(e.Fields, func(i, j int) bool { return e.Fields[i].Field < e.Fields[j].Field })
	return e
}

// Invalid returns a ValidationError for a single field.
func Invalid(field, format string, args ...any) error {
	v := &ValidationError{}
	v.Add(field, format, args...)
	return v
}

// ConflictError is a conflict blamed on one field (an idempotency key
// reused with another request, a definition that schedules still use). It
// matches ErrConflict with errors.Is.
type ConflictError struct {
	FieldError
}

func (e *ConflictError) Error() string { return "conflict: " + e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrConflict) true for a ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Conflict returns a ConflictError for field.
func Conflict(field, format string, args ...any) error {
	return &ConflictError{FieldError{Field: field, Message: fmt.Sprintf(format, args...)}}
}

// CapacityError says why an engine had no room for a run. It matches
// ErrNoCapacity with errors.Is.
type CapacityError struct {
	Wait   WaitReason
	Detail string
}

func (e *CapacityError) Error() string {
	return "no capacity: " + e.Detail
}

// Is makes errors.Is(err, ErrNoCapacity) true for a CapacityError.
func (e *CapacityError) Is(target error) bool { return target == ErrNoCapacity }
