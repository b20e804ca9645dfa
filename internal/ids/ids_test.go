package ids

import (
	"slices"
	"testing"
	"time"
)

func TestChildIDs(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for range 200 {
		parent := New(Run, at)
		var kids []string
		for i := range 50 {
			c, err := Child(parent, i)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Child(parent, i)
			if again != c {
				t.Fatalf("child %d of %s: %s then %s", i, parent, c, again)
			}
			if ct, ok := Time(c, Run); !ok || !ct.Equal(at) {
				t.Fatalf("child %s: time %v %v, want %v", c, ct, ok, at)
			}
			kids = append(kids, c)
		}
		if !slices.IsSorted(kids) || kids[0] <= parent {
			t.Fatalf("children of %s do not sort after it in index order: %v", parent, kids[:3])
		}
		// A run made in the same millisecond right after the parent is
		// none of its children.
		next := New(Run, at)
		if slices.Contains(kids, next) {
			t.Fatalf("%s is both a child of %s and a new id", next, parent)
		}
	}
	// Near the top of the entropy the sum wraps and stays distinct.
	top := Run + "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	a, err := Child(top, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Child(top, 1)
	if a == b || a == top {
		t.Fatalf("wrapped children collide: %s %s", a, b)
	}
	for _, bad := range []string{"def_01JD", "run_nope", ""} {
		if _, err := Child(bad, 0); err == nil {
			t.Errorf("Child(%q) made an id", bad)
		}
	}
	if _, err := Child(New(Run, at), -1); err == nil {
		t.Error("a negative index made an id")
	}
}
