package awsdynamodb

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// The write of each hot-path transition, as DynamoDB receives it (the
// minidyn tests run with PutOnRemove, so this is where the UpdateItem form
// is pinned): only the changed attributes are SET, the state index's keys
// move from the owner's queue to the cluster's active runs on admission and
// are REMOVEd when the run SUCCEEDS, and the definition and owner indexes
// are never touched.
func TestTransitionWrites(t *testing.T) {
	r := flotillatest.NewRun("default", "alice", 0)
	stored := runItem(r)
	stored[aVersion] = nv(1)
	stored[aEvents] = &types.AttributeValueMemberL{Value: []types.AttributeValue{sv("x")}}
	at := flotillatest.Epoch
	code := 0
	cases := []struct {
		name         string
		t            flotilla.Transition
		sets, remove []string
	}{
		{"admit", flotilla.Transition{From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending, At: at, Reason: "starting"},
			[]string{aEvents, attrGSI1PK, aReason, aStatus, aVersion}, nil},
		{"running", flotilla.Transition{From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning, At: at, TaskID: "task"},
			[]string{aAttempts, aEvents, aStartedAt, aStatus, aVersion}, []string{aReason}},
		{"succeeded", flotilla.Transition{From: []flotilla.RunStatus{flotilla.StatusRunning}, To: flotilla.StatusSucceeded, At: at,
			Reason: "exit code 0", ReasonCode: flotilla.ReasonSucceeded, ExitCode: &code},
			[]string{aAttempts, aCode, aEvents, aExitCode, aFinished, aReason, aStatus, aVersion}, []string{attrGSI1PK}},
	}
	s := &Store{table: new("t")}
	for _, c := range cases {
		cur := decodeRun(stored)
		c.t.RunID = r.ID
		if err := c.t.Check(cur); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		next, ev := c.t.Apply(cur)
		w := s.runWrite(stored, next, ev)
		if w.put != nil {
			t.Fatalf("%s: a Put without PutOnRemove", c.name)
		}
		expr := w.u.expression()
		var sets, removes []string
		for _, part := range w.u.sets {
			sets = append(sets, w.names[strings.Fields(part)[0]])
		}
		for _, n := range w.u.removes {
			removes = append(removes, w.names[n])
		}
		slices.Sort(sets)
		slices.Sort(removes)
		slices.Sort(c.sets)
		if !slices.Equal(sets, c.sets) || !slices.Equal(removes, c.remove) {
			t.Errorf("%s: %q sets %v removes %v, want %v and %v", c.name, expr, sets, removes, c.sets, c.remove)
		}
		if f := strings.Fields(w.cond); len(f) != 3 || w.names[f[0]] != aVersion || f[1] != "=" ||
			w.values[f[2]].(*types.AttributeValueMemberN).Value != "1" {
			t.Errorf("%s: condition %q, want the version read (1)", c.name, w.cond)
		}
		stored = runItem(next)
		stored[aVersion] = nv(1)
		stored[aEvents] = &types.AttributeValueMemberL{}
	}
}

func TestEventRoundTrip(t *testing.T) {
	at := flotillatest.Epoch.Add(123456789)
	for _, e := range []flotilla.RunEvent{
		{RunID: "run_1", Time: at, Source: flotilla.SourceAPI, To: flotilla.StatusQueued, Attempt: 1},
		{RunID: "run_1", Time: at, Source: flotilla.SourceEngine, From: flotilla.StatusRunning, To: flotilla.StatusFailed, Attempt: 2,
			Reason: "exit code 3 | out of memory: a reason with the separator"},
		{RunID: "run_1", Time: at, Source: "operator", From: flotilla.StatusRunning, To: flotilla.StatusStopped, Attempt: 10},
	} {
		s := encodeEvent(e).(*types.AttributeValueMemberS).Value
		got, err := decodeEvent("run_1", s)
		if err != nil || got != e {
			t.Errorf("%q decodes to %+v, %v; want %+v", s, got, err, e)
		}
	}
	if _, err := decodeEvent("run_1", "garbage"); err == nil {
		t.Error("a malformed event decodes")
	}
}
