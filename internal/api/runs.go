package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

func (s *server) handleLaunch() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, owner string) {
		req, err := decodeUpTo[runs.LaunchRequest](w, r, MaxLaunchBodyBytes)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.OwnerName = s.ownerName(r)
		run, created, err := s.Runs.Launch(r.Context(), owner, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if req.DryRun { // nothing stored: no Location to point at
			encode(w, http.StatusOK, run)
			return
		}
		// No queue position here: counting the line on every launch is what
		// made bursts slow; GET /v1/runs/{id} has it.
		accepted(w, run.ID, created, run)
	})
}

func (s *server) handleListRuns() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		f, err := s.runFilter(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page, err := s.Store.ListRuns(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.fillPositions(r, f, page.Items)
		for i := range page.Items {
			page.Items[i] = s.maskRun(r, caller, page.Items[i])
		}
		encode(w, http.StatusOK, page)
	})
}

// queuePositioner is a store that places many queued runs of a cluster in
// line with one read (the embedded store); others are asked run by run.
type queuePositioner interface {
	QueuePositions(ctx context.Context, cluster string, ids []string) (map[string]int, error)
}

// fillPositions gives a page's QUEUED runs their place in line, counting
// once per cluster in the page, not once per run: a filtered page of a
// long queue would otherwise count the line fifty times. When the filter
// keeps a page contiguous in each cluster's queue (no owner, definition,
// tag or schedule filter), the count for the oldest is enough: the rest
// follow in order.
func (s *server) fillPositions(r *http.Request, f flotilla.RunFilter, items []flotilla.Run) {
	contiguous := f.Owner == "" && f.DefinitionID == "" && f.Tag == "" && f.ScheduleID == "" && f.Parent == "" && f.After == ""
	byCluster := map[string][]int{}
	for i := range items {
		if items[i].Status == flotilla.StatusQueued {
			byCluster[items[i].Cluster] = append(byCluster[items[i].Cluster], i)
		}
	}
	for cluster, idx := range byCluster {
		if !contiguous {
			if qp, ok := s.Store.(queuePositioner); ok {
				ids := make([]string, len(idx))
				for k, i := range idx {
					ids[k] = items[i].ID
				}
				pos, err := qp.QueuePositions(r.Context(), cluster, ids)
				if err != nil {
					continue
				}
				for _, i := range idx {
					items[i].QueuePosition = pos[items[i].ID]
				}
				continue
			}
			for _, i := range idx {
				items[i] = s.withPosition(r, items[i])
			}
			continue
		}
		// Newest first in the page: the last index is the oldest.
		oldest := items[idx[len(idx)-1]]
		ahead, err := s.Store.QueuedAhead(r.Context(), oldest)
		if err != nil {
			continue
		}
		for k := len(idx) - 1; k >= 0; k-- {
			items[idx[k]].QueuePosition = ahead + len(idx) - k
		}
	}
}

// runFilter reads GET /v1/runs's query, naming each bad parameter.
func (s *server) runFilter(r *http.Request) (flotilla.RunFilter, error) {
	q := r.URL.Query()
	v := &flotilla.ValidationError{}
	f := flotilla.RunFilter{Cluster: q.Get("cluster"), Owner: q.Get("owner"), Tag: q.Get("tag"), NextToken: q.Get("next_token"),
		Parent: q.Get("parent"), After: q.Get("after")}
	// Repeats are dropped, so the filter holds each status at most once
	// however many the query names; only the first bad value is reported.
	seen := map[flotilla.RunStatus]bool{}
	badStatus := false
	for _, st := range q["status"] {
		for _, one := range strings.Split(st, ",") {
			status := flotilla.RunStatus(strings.ToUpper(strings.TrimSpace(one)))
			switch {
			case !status.Valid():
				if !badStatus {
					v.Add("status", "%q is not a status (one of %v)", truncate(one, 40), flotilla.AllStatuses)
					badStatus = true
				}
			case !seen[status]:
				seen[status] = true
				f.Statuses = append(f.Statuses, status)
			}
		}
	}
	var err error
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		v.Add("limit", "must be a number from 1 to 500")
	}
	now := s.NowFunc()
	if f.Since, err = timeParam(q.Get("since"), now); err != nil {
		v.Add("since", "%v", err)
	}
	if f.Until, err = timeParam(q.Get("until"), now); err != nil {
		v.Add("until", "%v", err)
	}
	if ref := q.Get("definition"); ref != "" {
		d, err := s.Store.GetDefinition(r.Context(), ref)
		switch {
		case err == nil:
			f.DefinitionID = d.ID
		case errors.Is(err, flotilla.ErrNotFound) && strings.HasPrefix(ref, "def_"):
			f.DefinitionID = ref // a deleted definition's runs stay findable by id
		case errors.Is(err, flotilla.ErrNotFound):
			v.Add("definition", "no definition with id or alias %q", ref)
		default:
			return f, err
		}
	}
	if f.ScheduleID = q.Get("schedule"); f.ScheduleID == "" {
		f.ScheduleID = q.Get("schedule_id")
	}
	return f, v.Err()
}

// The times a filter may name: what int64 nanoseconds since 1970 hold
// (the stores keep times that way), 1677-09-21 to 2262-04-11.
var (
	minFilterTime = time.Unix(0, math.MinInt64).UTC()
	maxFilterTime = time.Unix(0, math.MaxInt64).UTC()
)

// timeParam reads an RFC 3339 time, or a duration meaning that long ago
// ("10m", "2h").
func timeParam(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil || d <= 0 {
			return time.Time{}, errors.New("must be an RFC 3339 time (2026-11-26T09:00:00Z) or a duration ago (10m, 2h)")
		}
		t = now.Add(-d)
	}
	if t.Before(minFilterTime) || t.After(maxFilterTime) {
		return time.Time{}, errors.New("must be between 1678 and 2262")
	}
	return t.UTC(), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// withPosition fills a QUEUED run's place in its cluster's line.
func (s *server) withPosition(r *http.Request, run flotilla.Run) flotilla.Run {
	if run.Status != flotilla.StatusQueued {
		return run
	}
	if n, err := s.Store.QueuedAhead(r.Context(), run); err == nil {
		run.QueuePosition = n + 1
	}
	return run
}

func (s *server) handleGetRun() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		run, err := s.Store.GetRun(r.Context(), r.PathValue("id"))
		if err == nil {
			run, err = s.Runs.WithSummary(r.Context(), run)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.maskRun(r, caller, s.withPosition(r, run)))
	})
}

func (s *server) handleStopRun() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, owner string) {
		cur, err := s.Runs.Store.GetRun(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.authorize(r, owner, "run", cur.Owner, "stop"); err != nil {
			s.fail(w, r, err)
			return
		}
		run, err := s.Runs.Stop(r.Context(), r.PathValue("id"), owner)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusAccepted, run)
	})
}

// accepted answers a run that was accepted (202), or found already made
// by an earlier call with the same key (200), with its Location.
func accepted(w http.ResponseWriter, runID string, created bool, body any) {
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/runs/"+runID)
	encode(w, status, body)
}

func (s *server) handleRetryFailed() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		cur, err := s.Runs.Store.GetRun(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.authorize(r, caller, "run", cur.Owner, "retry the failed children of"); err != nil {
			s.fail(w, r, err)
			return
		}
		run, created, err := s.Runs.RetryFailed(r.Context(), caller, cur.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		accepted(w, run.ID, created, s.maskRun(r, caller, run))
	})
}

// logsResponse is GET /v1/runs/{id}/logs.
type logsResponse struct {
	Events    []flotilla.LogEvent `json:"events"`
	NextToken string              `json:"next_token"`
	Complete  bool                `json:"complete"`
}

func (s *server) handleLogs() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		q := r.URL.Query()
		v := &flotilla.ValidationError{}
		lq := flotilla.LogQuery{Token: q.Get("next_token"), Search: q.Get("search")}
		var err error
		if l := q.Get("limit"); l != "" {
			if lq.Limit, err = strconv.Atoi(l); err != nil || lq.Limit < 1 || lq.Limit > 10000 {
				v.Add("limit", "must be a number from 1 to 10000")
			}
		}
		if t := q.Get("tail"); t != "" {
			if lq.Tail, err = strconv.Atoi(t); err != nil || lq.Tail < 1 || lq.Tail > 10000 {
				v.Add("tail", "must be a number from 1 to 10000")
			}
		}
		now := s.NowFunc()
		if lq.Since, err = timeParam(q.Get("since"), now); err != nil {
			v.Add("since", "%v", err)
		}
		if lq.Until, err = timeParam(q.Get("until"), now); err != nil {
			v.Add("until", "%v", err)
		}
		if err := v.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		// The run is read before its logs: if it had ended, every line it
		// wrote is already there to read.
		run, err := s.Store.GetRun(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page, err := s.Logs.ReadLogs(r.Context(), run, lq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if page.Events == nil {
			page.Events = []flotilla.LogEvent{}
		}
		encode(w, http.StatusOK, logsResponse{Events: page.Events, NextToken: page.NextToken, Complete: page.End && run.Status.Terminal()})
	})
}

func (s *server) handleRunEvents() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		id := r.PathValue("id")
		if _, err := s.Store.GetRun(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		evs, err := s.Store.ListRunEvents(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, map[string]any{"items": evs})
	})
}

// costItem is one group of GET /v1/costs.
type costItem struct {
	Key     string  `json:"key"`
	CostUSD float64 `json:"cost_usd"`
	Runs    int     `json:"runs"`
}

// maxCostRuns bounds the runs one cost query sums.
const maxCostRuns = 200_000

func (s *server) handleCosts() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		q := r.URL.Query()
		v := &flotilla.ValidationError{}
		groupBy := q.Get("group_by")
		if groupBy == "" {
			groupBy = "owner"
		}
		if groupBy != "owner" && groupBy != "definition" && groupBy != "cluster" {
			v.Add("group_by", "must be owner, definition or cluster")
		}
		f := flotilla.RunFilter{Limit: 500, Statuses: []flotilla.RunStatus{flotilla.StatusSucceeded, flotilla.StatusFailed, flotilla.StatusStopped}}
		var err error
		now := s.NowFunc()
		if f.Since, err = timeParam(q.Get("since"), now); err != nil {
			v.Add("since", "%v", err)
		}
		if f.Until, err = timeParam(q.Get("until"), now); err != nil {
			v.Add("until", "%v", err)
		}
		if err := v.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		sums := map[string]*costItem{}
		total, seen := 0.0, 0
		for seen < maxCostRuns {
			page, err := s.Store.ListRuns(r.Context(), f)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			for _, run := range page.Items {
				seen++
				if run.CostUSD == nil {
					continue
				}
				key := map[string]string{"owner": run.Owner, "definition": run.Alias, "cluster": run.Cluster}[groupBy]
				it := sums[key]
				if it == nil {
					it = &costItem{Key: key}
					sums[key] = it
				}
				it.CostUSD += *run.CostUSD
				it.Runs++
				total += *run.CostUSD
			}
			if page.NextToken == "" {
				break
			}
			f.NextToken = page.NextToken
		}
		items := make([]costItem, 0, len(sums))
		for _, it := range sums {
			it.CostUSD = roundUSD(it.CostUSD)
			items = append(items, *it)
		}
		sort.Slice(items, func(i, j int) bool {
			if items[i].CostUSD != items[j].CostUSD {
				return items[i].CostUSD > items[j].CostUSD
			}
			return items[i].Key < items[j].Key
		})
		encode(w, http.StatusOK, map[string]any{"group_by": groupBy, "items": items, "total_usd": roundUSD(total)})
	})
}

func roundUSD(v float64) float64 { return float64(int64(v*1e6+0.5)) / 1e6 }

func (s *server) handleClusters() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		items := []flotilla.ClusterStats{}
		for _, name := range s.Runs.ClusterNames() {
			c := s.Runs.Clusters[name]
			u, err := s.Store.ClusterUsage(r.Context(), name)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			items = append(items, flotilla.ClusterStats{Name: name, MaxRunning: c.MaxRunning, Queued: u.Queued, Running: u.Running, LaunchType: c.LaunchType, SpotFallback: c.SpotFallback})
		}
		encode(w, http.StatusOK, map[string]any{"items": items})
	})
}

func (s *server) handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func (s *server) handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDocument)
	})
}
