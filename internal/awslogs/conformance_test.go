package awslogs_test

import (
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awsfake/harness"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func TestLogReaderConformance(t *testing.T) {
	flotillatest.TestLogReader(t, func(t *testing.T) flotillatest.ExecutorHarness {
		return harness.ExecutorAndLogs(t, awsfake.Faults{})
	})
}

func TestLogReaderConformanceUnderFaults(t *testing.T) {
	flotillatest.TestLogReader(t, func(t *testing.T) flotillatest.ExecutorHarness {
		return harness.ExecutorAndLogs(t, awsfake.Faults{Rate: 0.1, Seed: 7})
	})
}
