package awsecs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// RunTask's overrides are measured as the SDK serializes them, and a run
// over ECS's 8,192 characters is refused at launch naming the field; the
// measuring request is never sent.
func TestOverridesLimitCheckedAtLaunch(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	ctx := context.Background()
	env := func(n, size int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("V%03d", i)] = strings.Repeat("x", size)
		}
		return m
	}
	cases := []struct {
		name  string
		cmd   string
		env   map[string]string
		field string // "" when it fits
	}{
		{"small", "echo hi", map[string]string{"A": "1"}, ""},
		{"100 env values of 40 bytes", "echo hi", env(100, 40), ""},
		{"a command of 7,850 (fits: 8,107 with the JSON and the run's own variables)", strings.Repeat("e", 7850), nil, ""},
		{"100 env values of 4 KB", "echo hi", env(100, 4096), "env"},
		{"a 4 KB command and 2 env values of 2 KB", strings.Repeat("e", 4096), env(2, 2048), "command"},
		{"a command of 8,100", strings.Repeat("e", 8100), nil, "command"},
		{"quotes and newlines count as JSON escapes", strings.Repeat("\"\n", 2100), nil, "command"},
	}
	for _, c := range cases {
		r := newRun(t)
		r.Command, r.Env = c.cmd, c.env
		n, err := b.exec.OverridesChars(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = b.exec.CheckLaunch(ctx, r)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s (%d characters): refused: %v", c.name, n, err)
		case c.field != "" && (!errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(err.Error(), c.field)):
			t.Errorf("%s (%d characters): %v, want a refusal naming %s", c.name, n, err, c.field)
		case c.field != "" && n <= awsecs.MaxOverridesChars:
			t.Errorf("%s: measured %d characters, at most the limit, yet refused", c.name, n)
		}
	}
	if calls := b.fake.Calls()["RunTask"]; calls != 0 {
		t.Errorf("measuring sent %d RunTask requests", calls)
	}
}
