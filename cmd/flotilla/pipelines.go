package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/spf13/cobra"
)

// readArrayItems reads --array-items: a JSON array of objects, or JSON
// Lines (one object a line; any whitespace between objects works), from a
// file or, for "-", from stdin. Each item must be an object (the API merges
// it into params), which is checked here so the mistake names its place in
// the file rather than array.items[i] of a request the user never saw.
func readArrayItems(e *env, path string) ([]json.RawMessage, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--array-items %s: %w", path, err)
	}
	name := path
	if path == "-" {
		name = "stdin"
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("--array-items %s: no items (want a JSON array of objects, or one JSON object a line)", name)
	}
	var items []json.RawMessage
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, fmt.Errorf("--array-items %s: not a JSON array: %w", name, err)
		}
		for i, it := range items {
			if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
				return nil, fmt.Errorf("--array-items %s: item %d is %s, not a JSON object", name, i, abbrev(string(t)))
			}
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for {
			// The item's line: where the next value starts, past the blank.
			start := int(dec.InputOffset())
			for start < len(trimmed) && strings.ContainsRune(" \t\r\n", rune(trimmed[start])) {
				start++
			}
			line := 1 + bytes.Count(trimmed[:start], []byte("\n"))
			var it json.RawMessage
			err := dec.Decode(&it)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("--array-items %s: line %d: %w", name, line, err)
			}
			if it[0] != '{' {
				return nil, fmt.Errorf("--array-items %s: line %d (item %d) is %s, not a JSON object", name, line, len(items), abbrev(string(it)))
			}
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("--array-items %s: no items", name)
	}
	if len(items) > flotilla.MaxArraySize {
		return nil, fmt.Errorf("--array-items %s: %d items, at most %d", name, len(items), flotilla.MaxArraySize)
	}
	return items, nil
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// indexRanges writes ascending indexes compactly: 1, 4-9, 12.
func indexRanges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, strconv.Itoa(xs[i]))
		default:
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// countsText lists children by status in lifecycle order: "18 SUCCEEDED, 2 FAILED".
func countsText(counts map[flotilla.RunStatus]int) string {
	var parts []string
	for _, s := range flotilla.AllStatuses {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none yet"
	}
	return strings.Join(parts, ", ")
}

// pipelineRows are `runs get`'s rows about arrays and dependencies: an
// array's summary, a child's place in its array, what a run waits for.
func pipelineRows(ctx context.Context, c *client.Client, r flotilla.Run) [][]string {
	var rows [][]string
	if a := r.Array; a != nil {
		rows = append(rows, []string{"array", fmt.Sprintf("%d children, %d made", a.Size, a.Created)})
		if s := a.Summary; s != nil {
			rows = append(rows, []string{"children", fmt.Sprintf("%s (%d of %d ended)", countsText(s.Counts), s.Ended, a.Size)})
			if len(s.FailedIndexes) > 0 {
				rows = append(rows, []string{"failed indexes", indexRanges(s.FailedIndexes)})
			}
		}
		if a.RetryOf != "" {
			rows = append(rows, []string{"retry of", a.RetryOf})
		}
		if len(a.AfterEach) > 0 {
			rows = append(rows, []string{"after each", strings.Join(a.AfterEach, ", ") + " (child i after their child i)"})
		}
	}
	if r.ArrayIndex != nil {
		rows = append(rows, []string{"array index", strconv.Itoa(*r.ArrayIndex)})
		if len(r.ArrayItem) > 0 {
			rows = append(rows, []string{"array item", string(r.ArrayItem)})
		}
	}
	if len(r.After) > 0 {
		// Each with its status, so one look says which one holds it back.
		var parts []string
		for _, id := range r.After {
			if dep, err := c.GetRun(ctx, id); err == nil {
				parts = append(parts, fmt.Sprintf("%s (%s)", id, dep.Status))
			} else {
				parts = append(parts, id)
			}
		}
		rows = append(rows, []string{"after", strings.Join(parts, ", ")})
	}
	return rows
}

func runsRetryFailedCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "retry-failed RUN_ID",
		Short: "Run an ended array's failed and stopped children again, as a new array",
		Long: `Launch a new array whose children are the FAILED and STOPPED children of an
ended array, with the same indexes and items. It prints the new array's id;
asking again prints the same one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r flotilla.Run
			status, err := e.client().Do(cmd.Context(), "POST", "/v1/runs/"+url.PathEscape(args[0])+"/retry-failed", nil, nil, &r)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintln(e.stdout, r.ID)
			size := 0
			if r.Array != nil {
				size = r.Array.Size
			}
			how := "a new array"
			if status == 200 {
				how = "the array an earlier call made"
			}
			fmt.Fprintf(e.stderr, "\n%s runs %d failed or stopped children of %s again.\n  flotilla runs get %s          its progress\n  flotilla runs list --parent %s  its children\n", how, size, args[0], r.ID, r.ID)
			return nil
		},
	}
}

// followArray waits for an array's parent to end, printing its progress on
// stderr when it changes, and exits 0 when every child succeeded, 1 when
// some failed (naming their indexes), 204 when it was stopped.
func followArray(ctx context.Context, e *env, id string) error {
	c := e.client()
	last := ""
	for {
		r, err := c.GetRun(ctx, id)
		if err != nil {
			return &exitError{code: ExitAPIError, msg: err.Error()}
		}
		line := string(r.Status)
		if a := r.Array; a != nil && a.Summary != nil {
			line = fmt.Sprintf("%d of %d children ended: %s", a.Summary.Ended, a.Size, countsText(a.Summary.Counts))
		}
		if line != last {
			fmt.Fprintln(e.stderr, line)
			last = line
		}
		switch r.Status {
		case flotilla.StatusSucceeded:
			return nil
		case flotilla.StatusFailed:
			return &exitError{code: 1, msg: fmt.Sprintf("array %s FAILED: %s (flotilla runs retry-failed %s runs them again)", r.ID, r.StatusReason, r.ID)}
		case flotilla.StatusStopped:
			return &exitError{code: ExitStopped, msg: fmt.Sprintf("array %s STOPPED: %s", r.ID, r.StatusReason)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
