package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/params"
)

// LaunchRequest is the body of POST /v1/runs. Nil overrides keep the
// definition's values.
type LaunchRequest struct {
	Definition     string            `json:"definition"`
	Cluster        string            `json:"cluster,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Command        *string           `json:"command,omitempty"`
	CPU            *int              `json:"cpu,omitempty"`
	Memory         *int              `json:"memory,omitempty"`
	TimeoutSeconds *int              `json:"timeout_seconds,omitempty"`
	Tags           []string          `json:"tags,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	// Params are the values of the definition's parameters (package
	// params): validated against its parameters_schema, defaults filled in,
	// rendered into the command and recorded on the run.
	Params flotilla.Params `json:"params,omitempty"`
	// DryRun returns the run as it would be launched (command rendered,
	// every check made) without storing or queueing it.
	DryRun bool `json:"dry_run,omitempty"`
	// Notify adds targets to the definition's, for this run.
	Notify []flotilla.NotifyTarget `json:"notify,omitempty"`
	// Parent links the run to the run it is launched from (its id).
	Parent string `json:"parent,omitempty"`
	// Array makes the launch an array: a parent run and its children.
	Array *ArrayRequest `json:"array,omitempty"`
	// After are runs that must all succeed before this one is queued.
	After []string `json:"after,omitempty"`
	// AfterEach are arrays of the same size whose child i must succeed
	// before this array's child i is queued.
	AfterEach []string `json:"after_each,omitempty"`
	// ScheduleID is set by the scheduler, never by API callers.
	ScheduleID string `json:"-"`
	// OwnerName is the caller's display name (a verified e-mail), set by
	// the API from the token, never by callers.
	OwnerName string `json:"-"`
}

// MaxIdempotencyKey bounds idempotency keys.
const MaxIdempotencyKey = 128

// Launch accepts a run: it snapshots the definition's current revision with
// the overrides into a QUEUED run, stores it, and sends it to its cluster's
// queue. With an idempotency key the owner already used, it returns that
// run and created=false.
func (s *Service) Launch(ctx context.Context, owner string, req LaunchRequest) (flotilla.Run, bool, error) {
	v := &flotilla.ValidationError{}
	if req.Definition == "" {
		v.Add("definition", "is required (a definition id or alias)")
	}
	if req.Cluster == "" {
		req.Cluster = s.DefaultCluster
	}
	cluster, cerr := s.Cluster(req.Cluster)
	if cerr != nil {
		v.Add("cluster", "no cluster named %q (clusters: %s)", req.Cluster, s.clusterNames())
	}
	switch {
	case len(req.IdempotencyKey) > MaxIdempotencyKey:
		v.Add("idempotency_key", "must be at most %d bytes", MaxIdempotencyKey)
	case !utf8.ValidString(req.IdempotencyKey) || strings.ContainsFunc(req.IdempotencyKey, unicode.IsControl):
		v.Add("idempotency_key", "must be UTF-8 text without NUL or control characters")
	}
	if err := flotilla.ValidateNotify("notify", req.Notify); err != nil {
		var nv *flotilla.ValidationError
		if errors.As(err, &nv) {
			v.Fields = append(v.Fields, nv.Fields...)
		}
	}
	if err := v.Err(); err != nil {
		return flotilla.Run{}, false, err
	}
	def, err := s.Store.GetDefinition(ctx, req.Definition)
	if errors.Is(err, flotilla.ErrNotFound) {
		return flotilla.Run{}, false, flotilla.Invalid("definition", "no definition with id or alias %q", req.Definition)
	}
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("launch %s: %w", req.Definition, err)
	}
	now := s.now()
	r := flotilla.Run{
		ID:             ids.New(ids.Run, now),
		DefinitionID:   def.ID,
		Alias:          def.Alias,
		Revision:       def.Revision,
		Cluster:        cluster.Name,
		Status:         flotilla.StatusQueued,
		StatusReason:   "waiting to be dispatched",
		Owner:          owner,
		OwnerName:      req.OwnerName,
		Image:          def.Image,
		Command:        def.Command,
		CPU:            def.CPU,
		Memory:         def.Memory,
		GPU:            def.GPU,
		Architecture:   def.Architecture,
		Env:            maps.Clone(def.Env),
		Secrets:        maps.Clone(def.Secrets),
		TaskRoleARN:    def.TaskRoleARN,
		OnOutOfMemory:  def.OnOutOfMemory,
		Tags:           slices.Clone(def.Tags),
		Attempt:        1,
		MaxAttempts:    max(def.Retry.MaxAttempts, 1),
		Attempts:       []flotilla.Attempt{{Attempt: 1, QueuedAt: now}},
		QueuedAt:       now,
		TimeoutSeconds: def.TimeoutSeconds,
		IdempotencyKey: req.IdempotencyKey,
		ScheduleID:     req.ScheduleID,
	}
	if req.IdempotencyKey != "" {
		r.RequestHash = requestHash(req)
	}
	if r.Env == nil {
		r.Env = map[string]string{}
	}
	if r.Secrets == nil {
		r.Secrets = map[string]string{}
	}
	maps.Copy(r.Env, req.Env)
	if req.Command != nil {
		r.Command = *req.Command
	}
	var elems []flotilla.ArrayElement
	var probeCommand string
	if req.Array != nil {
		elems, probeCommand, err = s.prepareArray(ctx, &r, def, req)
	} else {
		err = applyParams(&r, def, req)
	}
	if err != nil {
		return flotilla.Run{}, false, err
	}
	if req.CPU != nil {
		r.CPU = *req.CPU
	}
	if req.Memory != nil {
		r.Memory = *req.Memory
	}
	if req.TimeoutSeconds != nil {
		r.TimeoutSeconds = *req.TimeoutSeconds
	}
	if req.Parent != "" {
		parent, err := s.Store.GetRun(ctx, req.Parent)
		switch {
		case errors.Is(err, flotilla.ErrNotFound):
			return flotilla.Run{}, false, flotilla.Invalid("parent", "no run %q", req.Parent)
		case err != nil:
			return flotilla.Run{}, false, fmt.Errorf("launch %s: parent: %w", req.Definition, err)
		}
		// A run launched from one that ended, or is being stopped, would
		// outlive it: the cascade could no longer reach it.
		switch {
		case parent.Status.Terminal():
			return flotilla.Run{}, false, flotilla.Invalid("parent", "run %s has ended (%s): a run launched from it would outlive it", parent.ID, parent.Status)
		case parent.StopRequest != nil:
			return flotilla.Run{}, false, flotilla.Invalid("parent", "run %s is being stopped", parent.ID)
		case parent.Array != nil:
			// Its summary and its end count its children: another run
			// among them would be counted as one.
			return flotilla.Run{}, false, flotilla.Invalid("parent", "run %s is an array's parent: launch from one of its children", parent.ID)
		}
		r.Parent = parent.ID
		r.Tags = append(r.Tags, flotilla.ParentTag(parent.ID))
	}
	r.Notify = append(slices.Clone(def.Notify), req.Notify...)
	if len(r.Notify) > flotilla.MaxNotifyTargets {
		return flotilla.Run{}, false, flotilla.Invalid("notify", "the definition's %d targets and the launch's %d make more than %d", len(def.Notify), len(req.Notify), flotilla.MaxNotifyTargets)
	}
	r.Tags = append(r.Tags, req.Tags...)
	sort.Strings(r.Tags)
	r.Tags = slices.Compact(r.Tags)
	if err := validateRun(r, cluster); err != nil {
		return flotilla.Run{}, false, err
	}
	size := 0
	if r.Array != nil {
		size = r.Array.Size
		r.Array.AfterEach = slices.Clone(req.AfterEach)
		r.Status, r.WaitReason, r.StatusReason = flotilla.StatusWaiting, flotilla.WaitChildren, fmt.Sprintf("making its %d children", size)
	}
	if r.After, err = s.checkAfter(ctx, req, size); err != nil {
		return flotilla.Run{}, false, err
	}
	if len(r.After) > 0 {
		r.Status, r.WaitReason, r.StatusReason = flotilla.StatusWaiting, flotilla.WaitDependencies, "waiting for "+strings.Join(r.After, ", ")
	}
	// Limits of the engine itself (ECS's on RunTask overrides), checked
	// now rather than when the run is dispatched; an array's are checked
	// on its child with the largest item and index.
	if c, ok := s.Executor.(launchChecker); ok {
		probe := r
		if r.Array != nil {
			last := size - 1
			probe.ArrayIndex, probe.Parent, probe.Array = &last, r.ID, nil
			if probeCommand != "" {
				probe.Command = probeCommand
			}
		}
		if err := c.CheckLaunch(ctx, probe); err != nil {
			return flotilla.Run{}, false, err
		}
	}
	r.ArrayItem = nil
	r.EstimatedCostUSD = s.estimate(ctx, r)
	if r.EstimatedCostUSD != nil && size > 0 {
		all := *r.EstimatedCostUSD * float64(size)
		r.EstimatedCostUSD = &all
	}
	if req.DryRun {
		r.StatusReason = "dry run: not stored, not queued (the run id is not reserved)"
		return r, false, nil
	}

	stored, created, err := s.Store.CreateRun(ctx, r)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("launch %s: %w", def.Alias, err)
	}
	if !created {
		// Runs stored before request hashes existed have none: they match.
		if stored.RequestHash != "" && stored.RequestHash != r.RequestHash {
			return flotilla.Run{}, false, flotilla.Conflict("idempotency_key",
				"idempotency_key reused with a different request (run %s was launched with it)", stored.ID)
		}
		// The same launch again, perhaps because the first was cut off
		// before its items were stored: storing the same items under the
		// same parent again is harmless, and lets the array go on.
		if elems != nil && stored.Array != nil && stored.Array.Listed && stored.Array.Created < stored.Array.Size {
			if err := s.Store.PutArrayElements(ctx, stored.ID, elems); err != nil {
				return flotilla.Run{}, false, fmt.Errorf("launch %s: %w", def.Alias, err)
			}
			s.sendArray(ctx, stored, "")
		}
		return stored, false, nil
	}
	if elems != nil {
		// After the parent, so that a refused or repeated launch stores
		// none; its children are made only once they are stored (the
		// message is sent below), and a parent left without them by a
		// crash here ends FAILED saying so (makeChildren) unless the same
		// launch is made again.
		if err := s.Store.PutArrayElements(ctx, stored.ID, elems); err != nil {
			return flotilla.Run{}, false, fmt.Errorf("launch %s: %w", def.Alias, err)
		}
	}
	// Its parent may have been stopped while it was being stored: then the
	// cascade may have missed it, so it is stopped here.
	if stored.Parent != "" {
		if p, err := s.Store.GetRun(ctx, stored.Parent); err == nil && cascades(p) {
			if stopped, err := s.stopOne(ctx, stored.ID, "flotilla (its parent "+p.ID+" was stopped)"); err == nil {
				return stopped, true, nil
			}
		}
	}
	switch {
	case len(stored.After) > 0:
		// What it waits for may have ended already.
		if err := s.settleDependent(ctx, stored); err != nil {
			s.log().Warn("a new run's dependencies were not settled; the sweep will", "run_id", stored.ID, "err", err)
		}
		if cur, err := s.Store.GetRun(ctx, stored.ID); err == nil {
			stored = cur
		}
		return stored, true, nil
	case stored.Array != nil:
		s.sendArray(ctx, stored, "")
		return stored, true, nil
	}
	// The run is safe in the store; if the send fails the sweep admits it.
	if err := s.Queue.Send(ctx, message(stored, "")); err != nil {
		s.log().Warn("queue send failed; the sweep will admit the run", "run_id", stored.ID, "cluster", stored.Cluster, "err", err)
	}
	return stored, true, nil
}

// requestHash fingerprints a launch request: SHA-256 of its canonical JSON
// (map keys sorted by encoding/json, tags sorted and unique, the cluster
// resolved), without the key itself.
func requestHash(req LaunchRequest) string {
	req.IdempotencyKey, req.ScheduleID, req.DryRun = "", "", false
	req.Tags = slices.Compact(slices.Sorted(slices.Values(req.Tags)))
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// applyParams resolves the launch's params against the definition's
// parameters_schema (defaults filled in) and renders the command (the
// definition's, or the override, which is a template too) with them.
// Without a schema the command is plain text and params must be empty.
func applyParams(r *flotilla.Run, def flotilla.Definition, req LaunchRequest) error {
	p, err := params.Resolve(def.ParametersSchema, req.Params)
	if err != nil {
		return err
	}
	if def.ParametersSchema == nil {
		return nil
	}
	if req.Command != nil {
		if err := params.CheckTemplate("command", r.Command, def.ParametersSchema); err != nil {
			return err
		}
	}
	cmd, err := params.Render("command", r.Command, def.ParametersSchema, p)
	if err != nil {
		return err
	}
	r.Command, r.Params = cmd, p
	return nil
}

// launchChecker is an executor that can tell at launch that the engine
// would refuse the run (flotilla.ErrInvalid naming the field).
type launchChecker interface {
	CheckLaunch(ctx context.Context, r flotilla.Run) error
}

// validateRun checks the effective settings: overrides are checked like the
// definition's fields, and Fargate clusters allow only Fargate's sizes.
func validateRun(r flotilla.Run, c flotilla.Cluster) error {
	d := flotilla.Definition{Alias: "x", Image: r.Image, Command: r.Command, CPU: r.CPU, Memory: r.Memory, GPU: r.GPU,
		Env: r.Env, Secrets: r.Secrets, Tags: r.Tags, TimeoutSeconds: r.TimeoutSeconds, Retry: flotilla.RetryPolicy{MaxAttempts: r.MaxAttempts}}
	if err := d.Validate(); err != nil {
		return err
	}
	if c.LaunchType == flotilla.EngineFargate {
		if r.GPU > 0 {
			return flotilla.Invalid("gpu", "cluster %s runs on Fargate, which has no GPUs; use an EC2 cluster", c.Name)
		}
		return flotilla.ValidateFargateSize(r.CPU, r.Memory)
	}
	return nil
}

// message is the queue message admitting r's current attempt. A re-send
// (suffix non-empty) gets a fresh deduplication id.
func message(r flotilla.Run, suffix string) flotilla.Message {
	dedup := fmt.Sprintf("%s#%d", r.ID, r.Attempt)
	if suffix != "" {
		dedup += "#" + suffix
	}
	return flotilla.Message{Cluster: r.Cluster, RunID: r.ID, Attempt: r.Attempt, Owner: r.Owner, DedupID: dedup}
}

// estimate prices r over the median duration of its definition's recent
// successful runs; nil without history.
func (s *Service) estimate(ctx context.Context, r flotilla.Run) *float64 {
	median, ok := s.medianDuration(ctx, r.DefinitionID)
	if !ok {
		return nil
	}
	// On-demand rates: a Spot run may cost less (its cost_usd says).
	c := s.rates(r.Architecture, "").Cost(r.CPU, r.Memory, median)
	return &c
}

// medianCacheTTL is how long a definition's median duration is reused: a
// burst of launches reads the history once, not once per launch.
const medianCacheTTL = 30 * time.Second

type medianEntry struct {
	median time.Duration
	ok     bool
	at     time.Time
}

// medianDuration is the median run time of the definition's last 20
// successful runs.
func (s *Service) medianDuration(ctx context.Context, defID string) (time.Duration, bool) {
	now := time.Now()
	s.mu.Lock()
	if e, hit := s.medians[defID]; hit && now.Sub(e.at) < medianCacheTTL {
		s.mu.Unlock()
		return e.median, e.ok
	}
	s.mu.Unlock()
	page, err := s.Store.ListRuns(ctx, flotilla.RunFilter{DefinitionID: defID, Statuses: []flotilla.RunStatus{flotilla.StatusSucceeded}, Limit: 20})
	if err != nil {
		return 0, false
	}
	var ds []float64
	for _, p := range page.Items {
		if p.StartedAt != nil && p.FinishedAt != nil {
			ds = append(ds, p.FinishedAt.Sub(*p.StartedAt).Seconds())
		}
	}
	e := medianEntry{at: now, ok: len(ds) > 0}
	if e.ok {
		sort.Float64s(ds)
		m := ds[len(ds)/2]
		if len(ds)%2 == 0 {
			m = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
		}
		e.median = secondsDuration(m)
	}
	if !e.ok {
		return 0, false // no history yet: cheap to ask again, and soon true
	}
	s.mu.Lock()
	if s.medians == nil || len(s.medians) > 10000 {
		s.medians = map[string]medianEntry{}
	}
	s.medians[defID] = e
	s.mu.Unlock()
	return e.median, e.ok
}
