package awsdynamodb_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func TestScheduleStore(t *testing.T) {
	flotillatest.TestScheduleStore(t, func(t *testing.T) flotilla.ScheduleStore {
		b := setup(t)
		return awsdynamodb.NewScheduleStore(b.db, b.table)
	})
}

// TestScheduleItem: a schedule is one item outside every index, and an
// update that empties the env really empties it (the store writes every
// field instead of removing attributes, which minidyn would ignore).
func TestScheduleItem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := awsdynamodb.NewScheduleStore(b.db, b.table)
	ctx := context.Background()
	sch, err := s.CreateSchedule(ctx, flotillatest.NewSchedule("hello", "ada", 0))
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	out, err := b.raw.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(b.table)})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("a schedule wrote %d items, want 1", len(out.Items))
	}
	for _, a := range []string{"gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} {
		if _, ok := out.Items[0][a]; ok {
			t.Errorf("the schedule item has %s; it must stay out of the indexes", a)
		}
	}
	sch.Version = 2
	sch.Env = map[string]string{}
	got, err := s.UpdateSchedule(ctx, sch)
	if err != nil {
		t.Fatalf("UpdateSchedule: %v", err)
	}
	read, err := s.GetSchedule(ctx, sch.ID)
	if err != nil || len(got.Env) != 0 || len(read.Env) != 0 {
		t.Fatalf("env after clearing = %v (returned), %v (read), %v; want empty", got.Env, read.Env, err)
	}
}
