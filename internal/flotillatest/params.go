package flotillatest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// templateSchema is a parameters_schema as the API stores it (compact).
const templateSchema = `{"type":"object","properties":{"date":{"type":"string","format":"date"},"n":{"type":"integer","default":12345678901234567},"ratio":{"type":"number"},"loud":{"type":"boolean"}},"required":["date"]}`

// templateParams exercise every value type; the integer is beyond a
// float64's exact range, so a store that passes numbers through float64
// changes it.
func templateParams() flotilla.Params {
	return flotilla.Params{"date": "2026-12-05", "n": json.Number("12345678901234567"), "ratio": json.Number("0.25"),
		"loud": true, "note": "it's \"quoted\" $(and) ✓"}
}

// testTemplateParams: a definition's parameters_schema is kept on it and its
// revisions, cleared by an update; a run keeps its params (exact numbers,
// types) and rendered command through transitions.
func testTemplateParams(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	d := NewDefinition("templated")
	d.Command = "load {{ .params.date }}"
	d.ParametersSchema = json.RawMessage(templateSchema)
	created, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDefinition(ctx, created.ID); err != nil || string(got.ParametersSchema) != templateSchema {
		t.Fatalf("definition parameters_schema %s (%v), want %s", got.ParametersSchema, err, templateSchema)
	}
	next := created
	next.ParametersSchema, next.Command, next.Revision = nil, "load", created.Revision+1
	if _, err := s.UpdateDefinition(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDefinition(ctx, created.ID); got.ParametersSchema != nil {
		t.Errorf("parameters_schema %s after it was cleared", got.ParametersSchema)
	}
	if old, err := s.GetDefinitionRevision(ctx, created.ID, created.Revision); err != nil || string(old.ParametersSchema) != templateSchema {
		t.Errorf("revision %d's parameters_schema %s (%v)", created.Revision, old.ParametersSchema, err)
	}

	r := NewRun("default", "alice", 0)
	r.Params, r.Command = templateParams(), "load '2026-12-05'"
	r = mustCreateRun(t, s, r)
	mustTransition(t, s, admit(r.ID, 10))
	read, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read.Params, templateParams()) || read.Command != "load '2026-12-05'" {
		t.Errorf("run params %#v command %q; want %#v", read.Params, read.Command, templateParams())
	}
	page, err := s.ListRuns(ctx, flotilla.RunFilter{Limit: 10})
	if err != nil || len(page.Items) != 1 || !reflect.DeepEqual(page.Items[0].Params, templateParams()) {
		t.Errorf("listed run params %+v (%v)", page.Items, err)
	}
	plain := mustCreateRun(t, s, NewRun("default", "alice", 1))
	if read, _ := s.GetRun(ctx, plain.ID); read.Params != nil {
		t.Errorf("a run without params reads back %#v", read.Params)
	}
}

// testScheduleParams: a schedule's params are kept, replaced and removed.
func testScheduleParams(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	sch := NewSchedule("templated", "ada", 0)
	sch.Params = templateParams()
	if _, err := s.CreateSchedule(ctx, sch); err != nil {
		t.Fatal(err)
	}
	read, err := s.GetSchedule(ctx, sch.ID)
	if err != nil || !reflect.DeepEqual(read.Params, templateParams()) {
		t.Fatalf("schedule params %#v (%v), want %#v", read.Params, err, templateParams())
	}
	read.Params, read.Version = flotilla.Params{"date": "2027-01-01"}, read.Version+1
	if _, err := s.UpdateSchedule(ctx, read); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSchedule(ctx, sch.ID); !reflect.DeepEqual(got.Params, flotilla.Params{"date": "2027-01-01"}) {
		t.Errorf("updated params %#v", got.Params)
	}
	got, _ := s.GetSchedule(ctx, sch.ID)
	got.Params, got.Version = nil, got.Version+1
	if _, err := s.UpdateSchedule(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSchedule(ctx, sch.ID); got.Params != nil {
		t.Errorf("params %#v after they were removed", got.Params)
	}
}
