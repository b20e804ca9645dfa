package embedded_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// FuzzLogToken hands the log reader any next_token a client may send: it
// never panics, a token it refuses is ErrInvalid (a 400, not a 500), and a
// token it accepts reads a page whose own token reads on without error.
func FuzzLogToken(f *testing.F) {
	dir := f.TempDir()
	r := flotilla.Run{ID: "run_01JDFUZZ", Attempt: 1}
	path := embedded.LogPath(dir, r.ID)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.Fatal(err)
	}
	lines := "2026-11-26T12:00:00Z\tfirst\n2026-11-26T12:00:01.5Z\tsecond line\nnot a log line\n2026-11-26T12:00:02Z\tthird\n"
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		f.Fatal(err)
	}
	rd := embedded.NewLogReader(dir)
	first, err := rd.ReadLogs(context.Background(), r, flotilla.LogQuery{Limit: 1})
	if err != nil {
		f.Fatal(err)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{"", first.NextToken, enc("f1:0"), enc("f1:7"), enc("f1:-1"), enc("f1:99999999999"),
		enc("f1:9223372036854775807"), enc("f2:0"), "f1:0", "!!", "===="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		page, err := rd.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: tok, Limit: 2})
		if err != nil {
			if !errors.Is(err, flotilla.ErrInvalid) {
				t.Fatalf("token %q: %v, want ErrInvalid", tok, err)
			}
			return
		}
		if _, err := rd.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: page.NextToken}); err != nil {
			t.Fatalf("token %q gave next token %q, which fails: %v", tok, page.NextToken, err)
		}
	})
}
