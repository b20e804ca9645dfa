package awsecs_test

import (
	"context"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// An arm64 definition's task definition asks for ARM64 Linux; an x86_64
// one names no platform (ECS's default is X86_64), and changing the
// architecture registers a new revision (it is part of the spec hash).
func TestArchitectureInTheTaskDefinition(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	ctx := context.Background()
	r := newRun(t)
	family := awsecs.Family(r.DefinitionID)

	r.Architecture = flotilla.ArchX86
	if _, err := b.exec.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	if p := b.fake.LatestTaskDefinition(family)["runtimePlatform"]; p != nil {
		t.Errorf("x86_64: runtimePlatform %v, want none", p)
	}
	arm := newRunLike(t, r)
	arm.Architecture = flotilla.ArchARM
	if _, err := b.exec.Start(ctx, arm); err != nil {
		t.Fatal(err)
	}
	p, _ := b.fake.LatestTaskDefinition(family)["runtimePlatform"].(map[string]any)
	if p["cpuArchitecture"] != "ARM64" || p["operatingSystemFamily"] != "LINUX" {
		t.Errorf("arm64: runtimePlatform %v, want ARM64 LINUX", p)
	}
	if n := b.fake.Registrations(family); n != 2 {
		t.Errorf("%d revisions, want 2 (the architecture changed)", n)
	}
	again := newRunLike(t, r)
	again.Architecture = flotilla.ArchARM
	if _, err := b.exec.Start(ctx, again); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.Registrations(family); n != 2 {
		t.Errorf("%d revisions, want still 2 (same spec)", n)
	}
}
