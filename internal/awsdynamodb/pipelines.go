package awsdynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// errPipelines marks what this store does not do yet: arrays and
// dependencies are being built here (issue 17); until then the service
// refuses such launches on this store rather than losing them.
var errPipelines = fmt.Errorf("arrays and dependencies on DynamoDB: %w", errors.ErrUnsupported)

// CreateRuns implements flotilla.Store (not yet: errPipelines).
func (s *Store) CreateRuns(ctx context.Context, runs []flotilla.Run) (int, error) {
	return 0, errPipelines
}

// PutArrayElements implements flotilla.Store (not yet: errPipelines).
func (s *Store) PutArrayElements(ctx context.Context, parentID string, elems []flotilla.ArrayElement) error {
	return errPipelines
}

// ArrayElements implements flotilla.Store (not yet: errPipelines).
func (s *Store) ArrayElements(ctx context.Context, parentID string, from, to int) ([]flotilla.ArrayElement, error) {
	return nil, errPipelines
}

// ChildSummary implements flotilla.Store (not yet: errPipelines).
func (s *Store) ChildSummary(ctx context.Context, parent string) (flotilla.ChildSummary, error) {
	return flotilla.ChildSummary{}, errPipelines
}
