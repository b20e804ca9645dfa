package schedules_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

// templated creates a definition with parameters for b's owner.
func (b *bundle) templated(alias string) flotilla.Definition {
	b.t.Helper()
	d := flotillatest.NewDefinition(alias)
	d.Owner = owner
	d.Command = "load {{ .params.date }} --mode {{ .params.mode }}"
	d.ParametersSchema = json.RawMessage(`{"type":"object","properties":{"date":{"type":"string","format":"date"},"mode":{"type":"string","enum":["full","delta"],"default":"delta"}},"required":["date"]}`)
	d, err := b.runs.Store.CreateDefinition(context.Background(), d)
	if err != nil {
		b.t.Fatal(err)
	}
	return d
}

func fieldNames(t *testing.T, err error) []string {
	t.Helper()
	var v *flotilla.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("want a validation error, got %v", err)
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

// TestScheduleParams: params are checked when a schedule is written, sent
// with every fire, and checked again when the definition changed since.
func TestScheduleParams(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	ctx := context.Background()
	d := b.templated("report")
	base := schedules.CreateRequest{Name: "nightly", Definition: "report", Expression: "cron(0 3 * * ? *)"}

	bad := base
	bad.Params = flotilla.Params{"mode": "weekly", "colour": "red"}
	_, err := b.svc.Create(ctx, owner, bad)
	if got := fieldNames(t, err); !slices.Equal(got, []string{"params.colour", "params.date", "params.mode"}) {
		t.Fatalf("fields %v", got)
	}
	plain := base
	plain.Definition, plain.Params = "hello", flotilla.Params{"date": "2026-01-01"}
	if _, err := b.svc.Create(ctx, owner, plain); !slices.Equal(fieldNames(t, err), []string{"params"}) {
		t.Fatalf("params for a plain definition: %v", err)
	}
	if page, _ := b.store.ListSchedules(ctx, flotilla.ScheduleFilter{}); len(page.Items) != 0 {
		t.Fatalf("a refused schedule was stored: %+v", page.Items)
	}

	good := base
	good.Params = flotilla.Params{"date": "2026-12-05"}
	sch := b.create(good)
	if !slices.Equal(sortedKeys(sch.Params), []string{"date"}) {
		t.Fatalf("schedule params %v (defaults are filled per run, not stored)", sch.Params)
	}
	run, created, err := b.svc.Fire(ctx, sch.ID, time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	if err != nil || !created {
		t.Fatal(err)
	}
	if run.Command != "load '2026-12-05' --mode 'delta'" || run.Params["mode"] != "delta" {
		t.Fatalf("fired run command %q params %v", run.Command, run.Params)
	}

	if _, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Params: &flotilla.Params{"date": "yesterday"}}); !slices.Equal(fieldNames(t, err), []string{"params.date"}) {
		t.Fatalf("update with a bad date: %v", err)
	}

	// The definition changes under the schedule: the fire is refused by the
	// launch's own check, naming the parameter, and makes no run.
	next := d
	next.Revision++
	next.ParametersSchema = json.RawMessage(`{"type":"object","properties":{"date":{"type":"string","format":"date"},"mode":{"type":"string","enum":["full","delta"],"default":"delta"},"region":{"type":"string"}},"required":["date","region"]}`)
	if _, err := b.runs.Store.UpdateDefinition(ctx, next); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.svc.Fire(ctx, sch.ID, time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	if got := fieldNames(t, err); !slices.Equal(got, []string{"params.region"}) {
		t.Fatalf("fire after the schema changed: %v", err)
	}
	if got := b.fired(sch.ID); len(got) != 1 {
		t.Fatalf("runs %v, want only the first", got)
	}
}

func sortedKeys(p flotilla.Params) []string {
	var out []string
	for k := range p {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
