package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/spf13/cobra"
)

// Exit codes of `flotilla run --follow` and `flotilla logs -f` when the job
// did not run to its end. A job that ran to its end gives its own code.
const (
	ExitNeverStarted = 201 // could not start, image pull failed, retries exhausted
	ExitRunTimeout   = 202 // stopped by its run timeout
	ExitQueueTimeout = 203 // waited in the queue too long
	ExitStopped      = 204 // stopped on request
	ExitOutOfMemory  = 205 // killed for using more memory than it asked for
	ExitLost         = 206 // the engine lost it
	ExitAPIError     = 210 // the CLI could not talk to Flotilla
	ExitDetached     = 130 // Ctrl-C: detached, the run goes on
)

func exitCodeTable() string {
	return strings.Join([]string{
		"201  never started (could not start, image pull failed, retries exhausted, a run it was after failed)",
		"202  timed out (its run timeout)",
		"203  waited in the queue too long",
		"204  stopped",
		"205  out of memory",
		"206  lost by the engine",
		"210  the CLI could not talk to Flotilla",
		"130  you pressed Ctrl-C: detached, the run goes on",
	}, "\n  ")
}

// exitFor maps an ended run to the CLI's exit code.
func exitFor(r flotilla.Run) int {
	switch r.ReasonCode {
	case flotilla.ReasonSucceeded:
		return 0
	case flotilla.ReasonExitCode:
		if r.ExitCode != nil && *r.ExitCode > 0 && *r.ExitCode < 256 {
			return *r.ExitCode
		}
		return 1
	case flotilla.ReasonRunTimeout:
		return ExitRunTimeout
	case flotilla.ReasonQueueTimeout:
		return ExitQueueTimeout
	case flotilla.ReasonStopped:
		return ExitStopped
	case flotilla.ReasonOutOfMemory:
		return ExitOutOfMemory
	case flotilla.ReasonLost:
		return ExitLost
	}
	return ExitNeverStarted
}

func logsCmd(e *env) *cobra.Command {
	var follow, timestamps bool
	var since, until, search string
	var tail int
	cmd := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Print a run's output; -f follows it live",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"since": since, "until": until, "search": search} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if tail < 0 {
				return fmt.Errorf("--tail must be a positive number of lines, not %d", tail)
			}
			f := follower{e: e, c: e.client(), id: args[0], query: q, timestamps: timestamps, follow: follow}
			switch {
			case tail > maxServerTail:
				// More than the API tails at once: read from the start and
				// keep the last lines here.
				f.keepLast = tail
			case tail > 0:
				q.Set("tail", strconv.Itoa(tail))
			}
			return f.run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the run ends (then exit with its code)")
	fl.StringVar(&since, "since", "", "lines at or after (RFC 3339, or a duration ago like 10m)")
	fl.StringVar(&until, "until", "", "lines before (RFC 3339, or a duration ago)")
	fl.IntVar(&tail, "tail", 0, "start with the last N lines")
	fl.StringVar(&search, "search", "", "only lines containing this text")
	fl.BoolVar(&timestamps, "timestamps", false, "prefix each line with its time")
	return cmd
}

// maxServerTail is the largest tail the API serves in one request.
const maxServerTail = 10000

func followRun(ctx context.Context, e *env, id string) error {
	f := follower{e: e, c: e.client(), id: id, query: url.Values{}, follow: true, showWaiting: true}
	return f.run(ctx)
}

// follower prints a run's log lines and, following, waits for its end.
type follower struct {
	e           *env
	c           *client.Client
	id          string
	query       url.Values
	timestamps  bool
	follow      bool
	showWaiting bool
	// keepLast, when > 0, holds back lines and prints only the last
	// keepLast of those read before the first catch-up.
	keepLast int
	held     []flotilla.LogEvent
}

func (f *follower) print(ev flotilla.LogEvent) {
	if f.keepLast > 0 {
		f.held = append(f.held, ev)
		if len(f.held) > 2*f.keepLast {
			f.held = append(f.held[:0], f.held[len(f.held)-f.keepLast:]...)
		}
		return
	}
	if f.timestamps {
		fmt.Fprintf(f.e.stdout, "%s %s\n", ev.Timestamp.Format(time.RFC3339Nano), ev.Message)
	} else {
		fmt.Fprintln(f.e.stdout, ev.Message)
	}
}

// release prints the held lines' last keepLast and stops holding.
func (f *follower) release() {
	if f.keepLast == 0 {
		return
	}
	held := f.held[max(0, len(f.held)-f.keepLast):]
	f.keepLast, f.held = 0, nil
	for _, ev := range held {
		f.print(ev)
	}
}

func (f *follower) run(ctx context.Context) error {
	sigs := f.e.signals
	if sigs == nil {
		sigs = make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt)
		defer signal.Stop(sigs)
	}
	lastWait := ""
	for {
		page, err := f.c.Logs(ctx, f.id, f.query)
		if err != nil {
			return &exitError{code: ExitAPIError, msg: err.Error()}
		}
		for _, ev := range page.Events {
			f.print(ev)
		}
		// Caught up: the run is over and read, or the reader is at what
		// exists now (the token did not move; an empty page alone is not
		// the end: a CloudWatch page can be empty before it).
		sent := f.query.Get("next_token")
		caughtUp := page.Complete || page.NextToken == "" || page.NextToken == sent
		if page.NextToken != "" {
			f.query.Set("next_token", page.NextToken)
			f.query.Del("tail")
		}
		if caughtUp {
			f.release()
		}
		if !f.follow {
			if caughtUp {
				return nil
			}
			continue
		}
		if page.Complete {
			r, err := f.c.GetRun(ctx, f.id)
			if err != nil {
				return &exitError{code: ExitAPIError, msg: err.Error()}
			}
			code := exitFor(r)
			if r.Status != flotilla.StatusSucceeded {
				return &exitError{code: code, msg: fmt.Sprintf("run %s %s: %s (exit %d)", r.ID, r.Status, r.StatusReason, code)}
			}
			return nil
		}
		if len(page.Events) > 0 {
			continue
		}
		if f.showWaiting {
			if r, err := f.c.GetRun(ctx, f.id); err == nil && (r.Status == flotilla.StatusQueued || r.Status == flotilla.StatusWaiting) {
				line := fmt.Sprintf("waiting: #%d in line on cluster %s — %s (%s)", r.QueuePosition, r.Cluster, waitText(r.WaitReason), r.StatusReason)
				if r.Status == flotilla.StatusWaiting {
					line = fmt.Sprintf("waiting: %s (%s)", r.StatusReason, waitText(r.WaitReason))
				}
				if line != lastWait {
					fmt.Fprintln(f.e.stderr, line)
					lastWait = line
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sigs:
			return f.detach(ctx, sigs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// detach leaves the run going; a second Ctrl-C within 2 s stops it.
func (f *follower) detach(ctx context.Context, sigs <-chan os.Signal) error {
	fmt.Fprintf(f.e.stderr, "\nDetached; run %[1]s goes on.\n  re-attach: flotilla logs %[1]s -f\n  stop it:   flotilla runs stop %[1]s\nPress Ctrl-C again within 2 seconds to stop it now.\n", f.id)
	select {
	case <-sigs:
		fmt.Fprintf(f.e.stderr, "Stopping run %s…\n", f.id)
		r, err := f.c.StopRun(ctx, f.id)
		if err != nil {
			return &exitError{code: ExitAPIError, msg: err.Error()}
		}
		return &exitError{code: ExitStopped, msg: fmt.Sprintf("run %s: %s", r.ID, r.StatusReason)}
	case <-time.After(2 * time.Second):
		return &exitError{code: ExitDetached}
	}
}
