package flotilla_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

func TestTransitions(t *testing.T) {
	const (
		W = flotilla.StatusWaiting
		Q = flotilla.StatusQueued
		P = flotilla.StatusPending
		R = flotilla.StatusRunning
		S = flotilla.StatusSucceeded
		F = flotilla.StatusFailed
		X = flotilla.StatusStopped
	)
	allowed := map[flotilla.RunStatus][]flotilla.RunStatus{
		W: {W, Q, S, F, X},
		Q: {Q, P, X, F},
		P: {P, R, Q, S, F, X},
		R: {R, Q, S, F, X},
		S: {}, F: {}, X: {},
	}
	for _, from := range flotilla.AllStatuses {
		for _, to := range flotilla.AllStatuses {
			want := false
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := flotilla.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if flotilla.CanTransition("BOGUS", Q) || flotilla.CanTransition(Q, "BOGUS") {
		t.Error("unknown statuses may move")
	}
	deltas := []struct {
		from, to flotilla.RunStatus
		want     int
	}{{Q, P, 1}, {Q, Q, 0}, {Q, X, 0}, {P, R, 0}, {P, Q, -1}, {R, S, -1}, {R, F, -1}, {P, X, -1}, {R, Q, -1}, {R, R, 0}}
	for _, d := range deltas {
		if got := flotilla.SlotDelta(d.from, d.to); got != d.want {
			t.Errorf("SlotDelta(%s, %s) = %d, want %d", d.from, d.to, got, d.want)
		}
	}
}

func TestTransitionCheckAndApply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := flotilla.Run{ID: "run_1", Status: flotilla.StatusPending, Attempt: 1, MaxAttempts: 3, QueuedAt: at,
		Attempts: []flotilla.Attempt{{Attempt: 1, QueuedAt: at}}}
	tr := flotilla.Transition{RunID: "run_1", From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending}
	if err := tr.Check(r); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("check from the wrong status = %v", err)
	}
	retry := flotilla.Transition{RunID: "run_1", From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: 1, To: flotilla.StatusQueued,
		NewAttempt: true, At: at.Add(time.Minute), Reason: "retrying", TaskID: "t1"}
	if err := retry.Check(r); err != nil {
		t.Fatal(err)
	}
	next, ev := retry.Apply(r)
	if next.Attempt != 2 || len(next.Attempts) != 2 || next.Attempts[0].TaskID != "t1" || next.Attempts[0].FinishedAt == nil ||
		next.Status != flotilla.StatusQueued || ev == nil || ev.From != flotilla.StatusPending || ev.Attempt != 2 {
		t.Fatalf("apply retry = %+v, %+v", next, ev)
	}
	if len(r.Attempts) != 1 || r.Attempts[0].TaskID != "" {
		t.Fatalf("Apply changed its input: %+v", r.Attempts)
	}
	bad := retry
	bad.To = flotilla.StatusFailed
	if err := bad.Check(r); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("a new attempt not going to QUEUED = %v", err)
	}
	// Annotating without Event records nothing.
	note := flotilla.Transition{RunID: "run_1", From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusPending, TaskID: "t9"}
	if _, ev := note.Apply(r); ev != nil {
		t.Fatalf("an annotation recorded %+v", ev)
	}
}

func TestDecideOutcome(t *testing.T) {
	code := func(n int) *int { return &n }
	base := flotilla.Run{Image: "alpine:3", Memory: 512, Attempt: 1, MaxAttempts: 3}
	last := base
	last.Attempt = 3
	grows := base
	grows.CPU, grows.OnOutOfMemory = 256, &flotilla.OOMPolicy{RetryWithMemoryFactor: 2}
	grownLast := grows
	grownLast.Attempt = 3
	atMost := grows
	atMost.Memory = 2048
	oom := flotilla.TaskEvent{ExitCode: code(137), ContainerReason: "OutOfMemoryError: Container killed due to memory usage"}
	cases := []struct {
		name   string
		run    flotilla.Run
		ev     flotilla.TaskEvent
		to     flotilla.RunStatus
		code   flotilla.ReasonCode
		retry  bool
		reason string
	}{
		{"exit 0", base, flotilla.TaskEvent{ExitCode: code(0), StopCode: flotilla.StopCodeEssentialContainerExited}, flotilla.StatusSucceeded, flotilla.ReasonSucceeded, false, "exited with code 0"},
		{"exit 3", base, flotilla.TaskEvent{ExitCode: code(3)}, flotilla.StatusFailed, flotilla.ReasonExitCode, false, "exit code 3"},
		{"oom", base, flotilla.TaskEvent{ExitCode: code(137), ContainerReason: "OutOfMemoryError: Container killed due to memory usage"}, flotilla.StatusFailed, flotilla.ReasonOutOfMemory, false, "out of memory (limit 512 MiB)"},
		{"oom, retried with more memory", grows, oom, flotilla.StatusQueued, flotilla.ReasonOutOfMemory, true, "attempt 1 of 3 ran out of memory (limit 512 MiB): retrying with 1024 MiB (on_out_of_memory × 2)"},
		{"oom, no attempts left", grownLast, oom, flotilla.StatusFailed, flotilla.ReasonOutOfMemory, false, "out of memory (limit 512 MiB); not retried: no attempts left (3 of 3)"},
		{"oom, already the most the cpu allows", atMost, oom, flotilla.StatusFailed, flotilla.ReasonOutOfMemory, false, "out of memory (limit 2048 MiB); not retried: 2048 MiB is the most cpu 256 allows"},
		{"failed to start", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeTaskFailedToStart, StoppedReason: "Timeout waiting for network interface provisioning to complete."}, flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "attempt 1 of 3 failed: the task's network interface was not provisioned: Timeout waiting for network interface provisioning to complete.; retrying"},
		{"failed to start, last attempt", last, flotilla.TaskEvent{StopCode: flotilla.StopCodeTaskFailedToStart, StoppedReason: "ResourceInitializationError"}, flotilla.StatusFailed, flotilla.ReasonRetriesExhausted, false, "gave up after 3 attempts: the task could not reach SSM, Secrets Manager or the registry: ResourceInitializationError"},
		{"spot", base, flotilla.TaskEvent{ExitCode: code(143), StopCode: flotilla.StopCodeSpotInterruption, StoppedReason: "Your Spot Task was interrupted."}, flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, ""},
		{"image not found", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeTaskFailedToStart, StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s): manifest unknown"}, flotilla.StatusFailed, flotilla.ReasonImagePull, false, ""},
		{"image pull transient", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeTaskFailedToStart, StoppedReason: "CannotPullContainerError: i/o timeout"}, flotilla.StatusQueued, flotilla.ReasonImagePull, true, ""},
		{"containers ran, job's unknown", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeEssentialContainerExited, ContainersRan: true}, flotilla.StatusFailed, flotilla.ReasonCouldNotStart, false, ""},
		{"secret access denied", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeTaskFailedToStart, StoppedReason: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/exec/abc is not authorized to perform: secretsmanager:GetSecretValue"}, flotilla.StatusFailed, flotilla.ReasonCouldNotStart, false, ""},
		{"stopped outside Flotilla", base, flotilla.TaskEvent{ExitCode: code(143), StopCode: flotilla.StopCodeUserInitiated, StoppedReason: "Task stopped by user"}, flotilla.StatusStopped, flotilla.ReasonStopped, false, "stopped outside Flotilla (ECS console or API)"},
		{"no shell on Fargate", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeEssentialContainerExited, ContainerReason: `CannotStartContainerError: ResourceInitializationError: failed to create new container runtime task: exec: "sh": executable file not found in $PATH`}, flotilla.StatusFailed, flotilla.ReasonCouldNotStart, false, ""},
		{"lost", base, flotilla.TaskEvent{StopCode: flotilla.StopCodeLost, StoppedReason: "the server stopped"}, flotilla.StatusFailed, flotilla.ReasonLost, false, "the server stopped"},
		{"stopped on request", withStop(base, flotilla.ReasonStopped, "stopped by bob"), flotilla.TaskEvent{ExitCode: code(143), StopCode: flotilla.StopCodeUserInitiated}, flotilla.StatusStopped, flotilla.ReasonStopped, false, "stopped by bob"},
		{"exit 0 before a pending stop", withStop(base, flotilla.ReasonStopped, "stopped by bob"), flotilla.TaskEvent{ExitCode: code(0), StopCode: flotilla.StopCodeEssentialContainerExited}, flotilla.StatusSucceeded, flotilla.ReasonSucceeded, false, "exited with code 0"},
		{"exit 3 before a pending timeout", withStop(base, flotilla.ReasonRunTimeout, "timed out after 1m0s"), flotilla.TaskEvent{ExitCode: code(3), StopCode: flotilla.StopCodeEssentialContainerExited}, flotilla.StatusFailed, flotilla.ReasonExitCode, false, "exit code 3"},
		{"timed out", withStop(base, flotilla.ReasonRunTimeout, "timed out after 1m0s"), flotilla.TaskEvent{ExitCode: code(143)}, flotilla.StatusFailed, flotilla.ReasonRunTimeout, false, "timed out after 1m0s"},
	}
	for _, c := range cases {
		got := flotilla.DecideOutcome(c.run, c.ev)
		if got.To != c.to || got.Code != c.code || got.Retry != c.retry || (c.reason != "" && got.Reason != c.reason) {
			t.Errorf("%s: %+v, want %s %s retry=%v %q", c.name, got, c.to, c.code, c.retry, c.reason)
		}
		if got.To == flotilla.StatusSucceeded && c.ev.ExitCode != nil && *c.ev.ExitCode != 0 {
			t.Errorf("%s: a failed run counted as succeeded", c.name)
		}
	}
}

func withStop(r flotilla.Run, code flotilla.ReasonCode, reason string) flotilla.Run {
	r.StopRequest = &flotilla.StopRequest{By: "bob", Code: code, Reason: reason}
	return r
}

func TestDefinitionValidation(t *testing.T) {
	good := flotilla.Definition{Alias: "etl.daily-1", Image: "python:3.12", Command: "python x.py", CPU: 256, Memory: 512,
		Env: map[string]string{"A_B": "1"}, Tags: []string{"team:ml"}}
	good.Normalize()
	if err := good.Validate(); err != nil {
		t.Fatalf("a good definition: %v", err)
	}
	bad := good
	bad.Alias, bad.Image, bad.Command, bad.CPU, bad.Memory = "-x", "has space", " ", 1, 99999999
	bad.Env = map[string]string{"9A": "x", "FLOTILLA_Y": "y"}
	bad.Tags = []string{"bad tag"}
	bad.Group = "no/slash"
	bad.TaskRoleARN = "arn:aws:iam::123456789012:user/alice"
	bad.OnOutOfMemory = &flotilla.OOMPolicy{RetryWithMemoryFactor: 1}
	err := bad.Validate()
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("Validate = %v", err)
	}
	var fields []string
	for _, f := range v.Fields {
		fields = append(fields, f.Field)
	}
	want := "alias command cpu env.9A env.FLOTILLA_Y group_name image memory on_out_of_memory.retry_with_memory_factor tags task_role_arn"
	if strings.Join(fields, " ") != want {
		t.Fatalf("bad fields = %v, want %s", fields, want)
	}
	for _, role := range []string{"arn:aws:iam::123456789012:role/flotilla-job-x", "arn:aws-cn:iam::123456789012:role/a/b/c_d+e=f,g.h@i-j"} {
		d := good
		d.TaskRoleARN = role
		if err := d.Validate(); err != nil {
			t.Errorf("task role %q refused: %v", role, err)
		}
	}
	for _, role := range []string{"flotilla-job-x", "arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/" + strings.Repeat("a", 65)} {
		d := good
		d.TaskRoleARN = role
		if d.Validate() == nil {
			t.Errorf("task role %q accepted", role)
		}
	}
	oneTry := good
	oneTry.OnOutOfMemory, oneTry.Retry.MaxAttempts = &flotilla.OOMPolicy{RetryWithMemoryFactor: 2}, 1
	if err := oneTry.Validate(); err == nil || !strings.Contains(err.Error(), "on_out_of_memory: needs retry.max_attempts of at least 2") {
		t.Errorf("an out-of-memory retry with one attempt: %v", err)
	}
	for _, alias := range []string{"def_x", "run_1", strings.Repeat("a", 64), ""} {
		d := good
		d.Alias = alias
		if d.Validate() == nil {
			t.Errorf("alias %q accepted", alias)
		}
	}
}

func TestSecretValidation(t *testing.T) {
	base := flotilla.Definition{Alias: "etl", Image: "alpine:3", Command: "true", CPU: 256, Memory: 512,
		Env: map[string]string{"PLAIN": "1"}}
	base.Normalize()
	if base.Secrets == nil {
		t.Fatal("Normalize left Secrets nil")
	}
	many := map[string]string{}
	for i := range flotilla.MaxSecrets + 1 {
		many[fmt.Sprintf("S%d", i)] = "ssm:/x"
	}
	tests := []struct {
		name    string
		secrets map[string]string
		field   string // "" when valid
	}{
		{"ssm name", map[string]string{"TOKEN": "ssm:/prod/token"}, ""},
		{"ssm arn", map[string]string{"TOKEN": "ssm:arn:aws:ssm:us-east-1:123456789012:parameter/prod/token"}, ""},
		{"secretsmanager arn", map[string]string{"DB": "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}, ""},
		{"secretsmanager name", map[string]string{"DB": "secretsmanager:prod/db"}, ""},
		{"bad name", map[string]string{"9X": "ssm:/x"}, "secrets.9X"},
		{"reserved name", map[string]string{"FLOTILLA_X": "ssm:/x"}, "secrets.FLOTILLA_X"},
		{"also in env", map[string]string{"PLAIN": "ssm:/x"}, "secrets.PLAIN"},
		{"a value, not a reference", map[string]string{"TOKEN": "hunter2"}, "secrets.TOKEN"},
		{"empty reference", map[string]string{"TOKEN": "ssm:"}, "secrets.TOKEN"},
		{"unknown store", map[string]string{"TOKEN": "vault:/x"}, "secrets.TOKEN"},
		{"whitespace", map[string]string{"TOKEN": "ssm:/a b"}, "secrets.TOKEN"},
		{"too long", map[string]string{"TOKEN": "ssm:/" + strings.Repeat("a", flotilla.MaxSecretRefBytes)}, "secrets.TOKEN"},
		{"too many", many, "secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base
			d.Secrets = tt.secrets
			err := d.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var v *flotilla.ValidationError
			if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != tt.field {
				t.Fatalf("Validate = %v, want one error on %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error repeats the value: %v", err)
			}
		})
	}
}

func TestFargateSizes(t *testing.T) {
	ok := [][2]int{{256, 512}, {256, 2048}, {512, 1024}, {512, 4096}, {1024, 8192}, {4096, 30720}, {8192, 16384}, {8192, 61440}, {16384, 122880}}
	for _, s := range ok {
		if err := flotilla.ValidateFargateSize(s[0], s[1]); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	bad := [][2]int{{256, 4096}, {512, 512}, {1024, 1536}, {8192, 20000}, {300, 1024}, {16384, 32769}}
	for _, s := range bad {
		if err := flotilla.ValidateFargateSize(s[0], s[1]); err == nil {
			t.Errorf("%v accepted", s)
		}
	}
}

func TestCost(t *testing.T) {
	r := flotilla.FargateARMRates
	// 1 vCPU, 2 GB for 5 minutes: (0.03238 + 2*0.00356) * 300/3600.
	if got := r.Cost(1024, 2048, 5*time.Minute); got != 0.003292 {
		t.Errorf("5 min = %v", got)
	}
	// The one-minute minimum: 10 s bills as 60 s.
	if got, want := r.Cost(1024, 2048, 10*time.Second), r.Cost(1024, 2048, time.Minute); got != want || got != 0.000658 {
		t.Errorf("10 s = %v, 60 s = %v", got, want)
	}
	// Per second, rounded up: 61.2 s bills as 62 s.
	if got, want := r.Cost(1024, 2048, 61200*time.Millisecond), r.Cost(1024, 2048, 62*time.Second); got != want {
		t.Errorf("61.2 s = %v, want %v", got, want)
	}
}

// A task is priced at the rates of the platform and capacity it ran on.
func TestFargateRatesByArchitectureAndCapacity(t *testing.T) {
	cases := []struct {
		arch string
		spot bool
		want float64 // 1 vCPU, 2 GB, one hour
	}{
		{flotilla.ArchX86, false, 0.04048 + 2*0.004445},
		{"", false, 0.04048 + 2*0.004445}, // a run from before architectures: x86
		{flotilla.ArchARM, false, 0.03238 + 2*0.00356},
		{flotilla.ArchX86, true, (0.04048 + 2*0.004445) * 0.3},
		{flotilla.ArchARM, true, (0.03238 + 2*0.00356) * 0.3},
	}
	for _, c := range cases {
		got := flotilla.FargateRates(c.arch, c.spot).Cost(1024, 2048, time.Hour)
		if diff := got - c.want; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%q spot=%v: %v an hour, want %v", c.arch, c.spot, got, c.want)
		}
	}
}

// GrownMemory rounds the grown memory up to a size Fargate offers for the
// cpu and stops at the largest.
func TestGrownMemory(t *testing.T) {
	for _, c := range []struct {
		cpu, mem int
		f        float64
		want     int
	}{
		{256, 512, 2, 1024},
		{256, 1024, 1.5, 2048}, // 1536 is not a cpu-256 size
		{256, 2048, 2, 2048},   // the largest already
		{1024, 3072, 2, 6144},
		{1024, 6144, 2, 8192},   // capped
		{4096, 8192, 1.1, 9216}, // 9011 rounded up to a 1024 step
		{8192, 16384, 1.5, 24576},
		{300, 512, 2, 1024}, // an EC2 cpu: the cpu-256 row
	} {
		if got := flotilla.GrownMemory(c.cpu, c.mem, c.f); got != c.want {
			t.Errorf("GrownMemory(%d, %d, %g) = %d, want %d", c.cpu, c.mem, c.f, got, c.want)
		}
		if got := flotilla.GrownMemory(c.cpu, c.mem, c.f); c.cpu%256 == 0 && got != c.mem && flotilla.ValidateFargateSize(c.cpu, got) != nil {
			t.Errorf("GrownMemory(%d, %d, %g) = %d, not a Fargate size", c.cpu, c.mem, c.f, got)
		}
	}
}
