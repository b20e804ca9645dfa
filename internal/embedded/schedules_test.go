package embedded_test

import (
	"testing"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func TestScheduleStore(t *testing.T) {
	flotillatest.TestScheduleStore(t, func(t *testing.T) flotilla.ScheduleStore {
		return embedded.NewScheduleStore(openDB(t))
	})
}
