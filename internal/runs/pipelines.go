package runs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/params"
)

// ArrayRequest is a launch's "array": a size, or an item per child.
type ArrayRequest struct {
	Size  int               `json:"size,omitempty"`
	Items []json.RawMessage `json:"items,omitempty"`
}

// MaxArrayItemBytes bounds one array item (compact JSON): it becomes the
// child's FLOTILLA_ARRAY_ITEM, and ECS allows 8,192 characters of
// overrides a task (checked at launch with the largest item).
const MaxArrayItemBytes = 4 << 10

// arrayBatch is how many children one store write makes.
const arrayBatch = 500

// arrayWorkBudget is how long one array message makes children (or stops
// them) before it hands the rest to the next message, so the cluster's
// other messages are not held up behind a large array.
const arrayWorkBudget = time.Second

// transition applies t and, when the run ended, settles what waited on
// it: its array's parent, and the runs launched after it. Every change of
// a run in this package goes through it.
func (s *Service) transition(ctx context.Context, t flotilla.Transition) (flotilla.Run, error) {
	r, err := s.Store.TransitionRun(ctx, t)
	if err == nil && r.Status.Terminal() {
		s.afterEnd(ctx, r)
	}
	return r, err
}

// afterEnd settles the array r belongs to and the runs waiting for r. A
// failure is logged: the sweep settles waiting runs too.
func (s *Service) afterEnd(ctx context.Context, r flotilla.Run) {
	ctx = context.WithoutCancel(ctx)
	if r.Array != nil {
		s.settleUnmade(ctx, r)
	}
	if r.Parent != "" && r.ArrayIndex != nil && ctx.Value(stoppingArray{}) != r.Parent {
		if err := s.settleArray(ctx, r.Parent); err != nil {
			s.log().Warn("the array of an ended child was not settled; the sweep will", "run_id", r.ID, "parent", r.Parent, "err", err)
		}
	}
	f := flotilla.RunFilter{After: r.ID, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Limit: 500}
	for {
		page, err := s.Store.ListRuns(ctx, f)
		if err != nil {
			s.log().Warn("the runs waiting for an ended run were not listed; the sweep will settle them", "run_id", r.ID, "err", err)
			return
		}
		for _, d := range page.Items {
			if err := s.settleDependent(ctx, d); err != nil {
				s.log().Warn("a run waiting for an ended run was not settled; the sweep will", "run_id", d.ID, "after", r.ID, "err", err)
			}
		}
		if page.NextToken == "" {
			return
		}
		f.NextToken = page.NextToken
	}
}

// checkAfter validates a launch's after and after_each: known runs, none
// twice, at most MaxAfter; after_each only on an array, naming whole
// arrays of the same size. A new run cannot close a cycle: what it waits
// for exists before it does.
func (s *Service) checkAfter(ctx context.Context, req LaunchRequest, size int) ([]string, error) {
	v := &flotilla.ValidationError{}
	after := slices.Clone(req.After)
	if len(after)+len(req.AfterEach) > flotilla.MaxAfter {
		v.Add("after", "at most %d runs (after and after_each together); got %d", flotilla.MaxAfter, len(after)+len(req.AfterEach))
		return nil, v.Err()
	}
	seen := map[string]bool{}
	look := func(field, id string) (flotilla.Run, bool) {
		switch {
		case id == "":
			v.Add(field, "is empty: give a run id")
			return flotilla.Run{}, false
		case seen[id]:
			v.Add(field, "lists %s twice", id)
			return flotilla.Run{}, false
		}
		seen[id] = true
		r, err := s.Store.GetRun(ctx, id)
		if err != nil {
			if errors.Is(err, flotilla.ErrNotFound) {
				v.Add(field, "no run %q", id)
			} else {
				v.Add(field, "could not read run %s: %v", id, err)
			}
			return flotilla.Run{}, false
		}
		return r, true
	}
	for i, id := range after {
		look(fmt.Sprintf("after[%d]", i), id)
	}
	if len(req.AfterEach) > 0 && req.Array == nil {
		v.Add("after_each", "only an array waits for each child of another array: give array, or use after")
	}
	for i, id := range req.AfterEach {
		f := fmt.Sprintf("after_each[%d]", i)
		x, ok := look(f, id)
		switch {
		case !ok || req.Array == nil:
		case x.Array == nil:
			v.Add(f, "run %s is not an array", id)
		case x.Array.RetryOf != "":
			v.Add(f, "run %s runs only some children of %s again; wait for it with after", id, x.Array.RetryOf)
		case x.Array.Size != size:
			v.Add(f, "array %s has %d children, this one %d: child i waits for child i, so the sizes must match", id, x.Array.Size, size)
		}
	}
	return after, v.Err()
}

// prepareArray validates a launch's array and makes r its parent: WAITING
// for its children, with its elements (nil when child k is simply index
// k). With items and a parameters_schema each item is merged into the
// launch's params and checked now, so that no child fails to render
// later; the parent keeps the command template and the launch's params.
//
// It also returns the command of the child with the longest command and
// item ("" when every child has the parent's command), which the launch
// checks against the engine's limits.
func (s *Service) prepareArray(ctx context.Context, r *flotilla.Run, def flotilla.Definition, req LaunchRequest) ([]flotilla.ArrayElement, string, error) {
	a := req.Array
	switch {
	case a.Size != 0 && len(a.Items) != 0:
		return nil, "", flotilla.Invalid("array", "give size or items, not both")
	case len(a.Items) > flotilla.MaxArraySize:
		return nil, "", flotilla.Invalid("array.items", "at most %d items; got %d", flotilla.MaxArraySize, len(a.Items))
	case len(a.Items) == 0 && (a.Size < 1 || a.Size > flotilla.MaxArraySize):
		return nil, "", flotilla.Invalid("array.size", "must be from 1 to %d; got %d", flotilla.MaxArraySize, a.Size)
	}
	if len(a.Items) == 0 {
		r.Array = &flotilla.Array{Size: a.Size}
		return nil, "", applyParams(r, def, req)
	}
	v := &flotilla.ValidationError{}
	elems := make([]flotilla.ArrayElement, len(a.Items))
	largest := 0
	for i, raw := range a.Items {
		f := fmt.Sprintf("array.items[%d]", i)
		var buf bytes.Buffer
		var obj map[string]json.RawMessage
		if err := json.Compact(&buf, raw); err != nil || json.Unmarshal(raw, &obj) != nil || obj == nil {
			v.Add(f, "must be a JSON object")
		} else if buf.Len() > MaxArrayItemBytes {
			v.Add(f, "is %d bytes of JSON; at most %d are allowed", buf.Len(), MaxArrayItemBytes)
		}
		if len(v.Fields) >= 20 {
			break // enough to act on
		}
		elems[i] = flotilla.ArrayElement{Index: i, Item: buf.Bytes()}
		if buf.Len() > len(elems[largest].Item) {
			largest = i
		}
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	r.Array = &flotilla.Array{Size: len(elems), Listed: true, Items: true}
	if def.ParametersSchema == nil {
		if _, err := params.Resolve(nil, req.Params); err != nil {
			return nil, "", err // params without a schema: refused as a plain launch's are
		}
		r.ArrayItem = elems[largest].Item // checked with the launch's limits, then cleared
		return elems, "", nil
	}
	if req.Command != nil {
		if err := params.CheckTemplate("command", r.Command, def.ParametersSchema); err != nil {
			return nil, "", err
		}
	}
	// Every child is rendered now, so that none fails later; the one with
	// the longest command and item is what the engine's limits are
	// checked on.
	probe, probeLen := "", -1
	reported := map[string]bool{}
	for i, e := range elems {
		cmd, _, err := renderChild(r.Command, def.ParametersSchema, req.Params, e.Item)
		if err != nil {
			for _, f := range itemFields(i, e.Item, err) {
				if !reported[f.Field] {
					reported[f.Field] = true
					v.Fields = append(v.Fields, f)
				}
			}
			if len(v.Fields) >= 20 {
				break
			}
			continue
		}
		if n := len(cmd) + len(e.Item); n > probeLen {
			probe, probeLen, largest = cmd, n, i
		}
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	// The parent keeps the template, the launch's params and the schema:
	// its children are rendered from them however the definition changes.
	r.Params = req.Params
	r.Array.ParametersSchema = def.ParametersSchema
	r.ArrayItem = elems[largest].Item
	return elems, probe, nil
}

// renderChild renders the command template with the launch's params and
// an item merged over them, and returns the params it rendered with.
func renderChild(command string, schema json.RawMessage, given flotilla.Params, item json.RawMessage) (string, flotilla.Params, error) {
	var extra flotilla.Params
	if err := json.Unmarshal(item, &extra); err != nil {
		return "", nil, flotilla.Invalid("item", "must be a JSON object")
	}
	merged := maps.Clone(given)
	if merged == nil {
		merged = flotilla.Params{}
	}
	maps.Copy(merged, extra)
	p, err := params.Resolve(schema, merged)
	if err != nil {
		return "", nil, err
	}
	cmd, err := params.Render("command", command, schema, p)
	return cmd, p, err
}

// itemFields names item i's part of a validation error: a parameter the
// item gives is array.items[i].NAME; one it does not give is the launch's
// own, params.NAME (reported once, not once per item).
func itemFields(i int, item json.RawMessage, err error) []flotilla.FieldError {
	prefix := fmt.Sprintf("array.items[%d]", i)
	var v *flotilla.ValidationError
	if !errors.As(err, &v) {
		return []flotilla.FieldError{{Field: prefix, Message: err.Error()}}
	}
	var given map[string]json.RawMessage
	_ = json.Unmarshal(item, &given)
	out := make([]flotilla.FieldError, len(v.Fields))
	for k, f := range v.Fields {
		name, isParam := strings.CutPrefix(f.Field, "params.")
		switch {
		case isParam && given[name] != nil:
			out[k] = flotilla.FieldError{Field: prefix + "." + name, Message: f.Message}
		case isParam:
			out[k] = f
		default:
			out[k] = flotilla.FieldError{Field: prefix, Message: f.Field + ": " + f.Message}
		}
	}
	return out
}

// arrayMessage is the queue message that makes (or stops) the next
// children of parent. suffix separates messages that must not be taken
// for duplicates of an earlier one (a stop after the children were made).
func arrayMessage(p flotilla.Run, suffix string) flotilla.Message {
	created := 0
	if p.Array != nil {
		created = p.Array.Created
	}
	dedup := p.ID + "#array#" + strconv.Itoa(created)
	if suffix != "" {
		dedup += "#" + suffix
	}
	return flotilla.Message{Cluster: p.Cluster, RunID: p.ID, Owner: p.Owner, DedupID: dedup, Kind: flotilla.MessageArray}
}

// sendArray queues the array's next work; when the send fails, the sweep
// sends it again.
func (s *Service) sendArray(ctx context.Context, p flotilla.Run, suffix string) {
	if err := s.Queue.Send(ctx, arrayMessage(p, suffix)); err != nil {
		s.log().Warn("array message not sent; the sweep will send it", "run_id", p.ID, "err", err)
	}
}

// WorkArray does an array parent's next work, a batch at a time for about
// arrayWorkBudget, and queues a message for what remains: it makes the
// children not made yet, or, when the parent is being stopped, stops the
// children that have not ended; then it ends the parent when all its
// children have. Every step is idempotent, so a message delivered twice,
// or again after a crash, makes no child twice (children's ids are
// derived from the parent's and their indexes, and CreateRuns skips ids
// that exist).
func (s *Service) WorkArray(ctx context.Context, parentID string) error {
	deadline := time.Now().Add(arrayWorkBudget)
	for {
		p, err := s.Store.GetRun(ctx, parentID)
		if errors.Is(err, flotilla.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("array %s: %w", parentID, err)
		}
		if p.Array == nil || p.Status != flotilla.StatusWaiting || p.WaitReason == flotilla.WaitDependencies {
			return nil // ended, or not released yet
		}
		if p.StopRequest != nil {
			more, err := s.stopChildren(ctx, p, deadline)
			if err != nil {
				return err
			}
			if more {
				s.sendArray(ctx, p, "stop"+strconv.FormatInt(time.Now().UnixNano(), 36))
				return nil
			}
			return s.settleArray(ctx, p.ID)
		}
		if p.Array.Created >= p.Array.Size {
			return s.settleArray(ctx, p.ID)
		}
		if time.Now().After(deadline) {
			s.sendArray(ctx, p, "")
			return nil
		}
		if err := s.makeChildren(ctx, p); err != nil {
			return err
		}
	}
}

// makeChildren makes the parent's next batch of children and records it.
func (s *Service) makeChildren(ctx context.Context, p flotilla.Run) error {
	from, to := p.Array.Created, min(p.Array.Created+arrayBatch, p.Array.Size)
	elems, err := s.elements(ctx, p, from, to)
	if err != nil {
		return err
	}
	schema := p.Array.ParametersSchema
	now := s.now()
	kids := make([]flotilla.Run, 0, len(elems))
	for _, e := range elems {
		c, err := s.child(p, e, schema, now)
		if err != nil {
			return err
		}
		kids = append(kids, c)
	}
	if _, err := s.Store.CreateRuns(ctx, kids); err != nil {
		return fmt.Errorf("array %s: make children %d to %d: %w", p.ID, from, to-1, err)
	}
	_, err = s.transition(ctx, flotilla.Transition{RunID: p.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting,
		At: now, Source: flotilla.SourceDispatcher, ArrayCreated: to, NoStopRequest: true, Reason: fmt.Sprintf("made %d of its %d children", to, p.Array.Size)})
	if errors.Is(err, flotilla.ErrConflict) {
		// Another worker recorded them, or the parent was stopped (and may
		// have ended) while this batch was made: then the batch is stopped
		// too, as the stop would have stopped it had it seen it.
		if cur, gerr := s.Store.GetRun(ctx, p.ID); gerr == nil && (cur.Status.Terminal() || cur.StopRequest != nil) {
			for _, c := range kids {
				if _, err := s.Stop(ctx, c.ID, "flotilla (its array "+p.ID+" was stopped)"); err != nil && !errors.Is(err, flotilla.ErrConflict) {
					s.log().Warn("a child of a stopped array was not stopped", "run_id", c.ID, "err", err)
				}
			}
			return nil
		}
	} else if err != nil {
		return fmt.Errorf("array %s: record children to %d: %w", p.ID, to-1, err)
	}
	// A child may wait for another array's child that has ended already.
	// Each change settleDependent makes is conditional on WAITING, so a
	// child made by an earlier pass that has moved on is left alone.
	for _, c := range kids {
		if len(c.After) > 0 {
			if err := s.settleDependent(ctx, c); err != nil {
				s.log().Warn("a new child's dependencies were not settled; the sweep will", "run_id", c.ID, "err", err)
			}
		}
	}
	if err := s.Readmit(ctx, p.Cluster); err != nil {
		s.log().Warn("readmit failed; the sweep will retry", "cluster", p.Cluster, "err", err)
	}
	return nil
}

// elements returns the parent's elements [from, to).
func (s *Service) elements(ctx context.Context, p flotilla.Run, from, to int) ([]flotilla.ArrayElement, error) {
	if !p.Array.Listed {
		out := make([]flotilla.ArrayElement, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, flotilla.ArrayElement{Index: i})
		}
		return out, nil
	}
	out, err := s.Store.ArrayElements(ctx, p.ID, from, to)
	if err != nil {
		return nil, fmt.Errorf("array %s: elements %d to %d: %w", p.ID, from, to-1, err)
	}
	if len(out) != to-from {
		return nil, fmt.Errorf("array %s: %d of elements %d to %d are stored", p.ID, len(out), from, to-1)
	}
	return out, nil
}

// child is element e of parent p as a run: the parent's snapshot, its
// index and item, QUEUED (or WAITING for its partners in after_each).
func (s *Service) child(p flotilla.Run, e flotilla.ArrayElement, schema json.RawMessage, now time.Time) (flotilla.Run, error) {
	id, err := ids.Child(p.ID, e.Index)
	if err != nil {
		return flotilla.Run{}, err
	}
	c := p
	c.ID, c.Parent, c.ArrayIndex, c.Array = id, p.ID, &e.Index, nil
	c.Status, c.WaitReason, c.StatusReason = flotilla.StatusQueued, "", "waiting to be dispatched"
	c.Env, c.Secrets = maps.Clone(p.Env), maps.Clone(p.Secrets)
	// Its parent is the array: the tag naming the array's own parent is
	// not its (a run's children are the runs tagged with its id).
	c.Tags = slices.DeleteFunc(slices.Clone(p.Tags), func(t string) bool { return strings.HasPrefix(t, flotilla.ParentTag("")) })
	c.Tags = append(c.Tags, flotilla.ParentTag(p.ID))
	slices.Sort(c.Tags)
	c.Tags = slices.Compact(c.Tags)
	c.After, c.Notify, c.IdempotencyKey, c.RequestHash, c.StopRequest = nil, nil, "", "", nil
	c.Attempts = []flotilla.Attempt{{Attempt: 1, QueuedAt: now}}
	c.ArrayItem = e.Item
	c.EstimatedCostUSD = p.EstimatedCostUSD
	if p.EstimatedCostUSD != nil && p.Array.Size > 0 {
		each := *p.EstimatedCostUSD / float64(p.Array.Size)
		c.EstimatedCostUSD = &each
	}
	if len(e.Item) > 0 && schema != nil {
		cmd, resolved, err := renderChild(p.Command, schema, p.Params, e.Item)
		if err != nil {
			return flotilla.Run{}, fmt.Errorf("array %s: child %d: %w", p.ID, e.Index, err)
		}
		c.Command, c.Params = cmd, resolved
	}
	for _, x := range p.Array.AfterEach {
		dep, err := ids.Child(x, e.Index)
		if err != nil {
			return flotilla.Run{}, err
		}
		c.After = append(c.After, dep)
	}
	if len(c.After) > 0 {
		c.Status, c.WaitReason = flotilla.StatusWaiting, flotilla.WaitDependencies
		c.StatusReason = "waiting for " + strings.Join(c.After, ", ")
	}
	return c, nil
}

// stoppingArray marks a context in which an array's children are being
// stopped: their ends do not each settle the array (which reads its
// summary), the stop settles it once when it is through.
type stoppingArray struct{}

// stopChildren stops the parent's children that have not ended and are
// not being stopped yet, those that run first (they cost money; the queued
// ones cannot start meanwhile: dispatch stops a run whose parent is being
// stopped), until the deadline; more says some may remain.
func (s *Service) stopChildren(ctx context.Context, p flotilla.Run, deadline time.Time) (more bool, err error) {
	ctx = context.WithValue(ctx, stoppingArray{}, p.ID)
	who := p.StopRequest.By
	for _, statuses := range [][]flotilla.RunStatus{
		{flotilla.StatusPending, flotilla.StatusRunning},
		{flotilla.StatusWaiting, flotilla.StatusQueued},
	} {
		f := flotilla.RunFilter{Parent: p.ID, Statuses: statuses, Limit: 500}
		for {
			page, err := s.Store.ListRuns(ctx, f)
			if err != nil {
				return false, fmt.Errorf("array %s: list its children: %w", p.ID, err)
			}
			for _, c := range page.Items {
				if c.StopRequest != nil {
					continue // asked already; its end settles the parent
				}
				if time.Now().After(deadline) {
					return true, nil
				}
				if _, err := s.Stop(ctx, c.ID, who+" (with its array "+p.ID+")"); err != nil && !errors.Is(err, flotilla.ErrConflict) {
					s.log().Warn("a child of a stopped array was not stopped", "run_id", c.ID, "parent", p.ID, "err", err)
				}
			}
			if page.NextToken == "" {
				break
			}
			f.NextToken = page.NextToken
		}
	}
	return false, nil
}

// settleArray ends an array's parent once all its children have ended:
// SUCCEEDED when all succeeded, STOPPED when it was stopped, else FAILED
// naming the children that failed or were stopped.
func (s *Service) settleArray(ctx context.Context, parentID string) error {
	p, err := s.Store.GetRun(ctx, parentID)
	if err != nil {
		return fmt.Errorf("settle array %s: %w", parentID, err)
	}
	if p.Array == nil || p.Status != flotilla.StatusWaiting || p.WaitReason == flotilla.WaitDependencies {
		return nil
	}
	if p.StopRequest == nil && p.Array.Created < p.Array.Size {
		return nil // children still to make
	}
	sum, err := s.Store.ChildSummary(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("settle array %s: %w", p.ID, err)
	}
	existing := 0
	for _, n := range sum.Counts {
		existing += n
	}
	if sum.Ended < existing || (p.StopRequest == nil && existing < p.Array.Size) {
		return nil // children still going
	}
	t := flotilla.Transition{RunID: p.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, At: s.now(), Source: flotilla.SourceDispatcher}
	failed := len(sum.FailedIndexes)
	switch {
	case p.StopRequest != nil:
		t.To, t.ReasonCode = flotilla.StatusStopped, p.StopRequest.Code
		t.Reason = fmt.Sprintf("%s; of its %d children %d ran and succeeded", p.StopRequest.Reason, p.Array.Size, sum.Counts[flotilla.StatusSucceeded])
	case sum.Counts[flotilla.StatusSucceeded] == p.Array.Size:
		t.To, t.ReasonCode, t.Reason = flotilla.StatusSucceeded, flotilla.ReasonSucceeded, fmt.Sprintf("all %d children succeeded", p.Array.Size)
	default:
		t.To, t.ReasonCode = flotilla.StatusFailed, flotilla.ReasonChildrenFailed
		t.Reason = fmt.Sprintf("%d of its %d children failed or were stopped: %s", failed, p.Array.Size, indexList(sum.FailedIndexes, 20))
	}
	_, err = s.transition(ctx, t) // its end settles what waits for it (afterEnd)
	if err != nil && !errors.Is(err, flotilla.ErrConflict) {
		return fmt.Errorf("settle array %s: %w", p.ID, err)
	}
	return nil
}

// maxUnmadeSettled bounds the children never made whose waiting partners
// an array's end settles at once; the sweep settles the rest.
const maxUnmadeSettled = 1000

// settleUnmade settles the runs that wait for children p ended without
// making (it was stopped first): children of arrays that wait for each of
// p's children. Nothing else would wake them, since those children never
// end.
func (s *Service) settleUnmade(ctx context.Context, p flotilla.Run) {
	from, to := p.Array.Created, min(p.Array.Size, p.Array.Created+maxUnmadeSettled)
	if from >= to {
		return
	}
	elems, err := s.elements(ctx, p, from, to)
	if err != nil {
		s.log().Warn("the partners of an array's unmade children were not settled; the sweep will", "run_id", p.ID, "err", err)
		return
	}
	for _, e := range elems {
		id, err := ids.Child(p.ID, e.Index)
		if err != nil {
			continue
		}
		page, err := s.Store.ListRuns(ctx, flotilla.RunFilter{After: id, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Limit: 50})
		if err != nil {
			s.log().Warn("the partners of an array's unmade children were not listed; the sweep will settle them", "run_id", p.ID, "err", err)
			return
		}
		for _, d := range page.Items {
			if err := s.settleDependent(ctx, d); err != nil {
				s.log().Warn("a run waiting for an unmade child was not settled; the sweep will", "run_id", d.ID, "err", err)
			}
		}
	}
}

// indexList writes indexes for a person: the first max, then how many more.
func indexList(idx []int, max int) string {
	var b strings.Builder
	for i, x := range idx {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(idx)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// settleDependent looks at what a WAITING run waits for: if one failed or
// was stopped (or, a child of another array, was never made because that
// array ended first) the run ends STOPPED with dependency_failed; if all
// succeeded it is queued (an array's parent starts making its children);
// otherwise it waits on.
func (s *Service) settleDependent(ctx context.Context, d flotilla.Run) error {
	if d.Status != flotilla.StatusWaiting || d.WaitReason != flotilla.WaitDependencies {
		return nil
	}
	var pending []string
	for _, dep := range d.After {
		r, err := s.Store.GetRun(ctx, dep)
		if errors.Is(err, flotilla.ErrNotFound) {
			why, err := s.neverMade(ctx, d, dep)
			if err != nil {
				return err
			}
			if why != "" {
				return s.dependencyFailed(ctx, d, why)
			}
			pending = append(pending, dep)
			continue
		}
		if err != nil {
			return fmt.Errorf("settle run %s: read %s: %w", d.ID, dep, err)
		}
		switch r.Status {
		case flotilla.StatusSucceeded:
		case flotilla.StatusFailed, flotilla.StatusStopped:
			return s.dependencyFailed(ctx, d, fmt.Sprintf("run %s, which it waited for, ended %s (%s)", r.ID, r.Status, r.StatusReason))
		default:
			pending = append(pending, dep)
		}
	}
	now := s.now()
	if len(pending) > 0 {
		reason := "waiting for " + strings.Join(pending, ", ")
		if reason == d.StatusReason {
			return nil
		}
		_, err := s.transition(ctx, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting,
			At: now, Source: flotilla.SourceDispatcher, Reason: reason, WaitReason: flotilla.WaitDependencies})
		return ignoreConflict(err)
	}
	if d.Array != nil {
		p, err := s.transition(ctx, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting,
			At: now, Source: flotilla.SourceDispatcher, Event: true, WaitReason: flotilla.WaitChildren,
			Reason: fmt.Sprintf("the runs it waited for succeeded: making its %d children", d.Array.Size)})
		if err != nil {
			return ignoreConflict(err)
		}
		s.sendArray(ctx, p, "")
		return nil
	}
	q, err := s.transition(ctx, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusQueued,
		At: now, Source: flotilla.SourceDispatcher, WaitReason: flotilla.WaitNoFreeSlot, Reason: "queued: the runs it waited for succeeded"})
	if err != nil {
		return ignoreConflict(err)
	}
	if err := s.Queue.Send(ctx, message(q, "")); err != nil {
		s.log().Warn("queue send failed; the sweep will admit the run", "run_id", q.ID, "err", err)
	}
	return nil
}

// neverMade tells why dep, a run d waits for that does not exist, never
// will: d is a child of an array that waits for each child of another
// array, and that array ended before making it. "" means it may yet be
// made.
func (s *Service) neverMade(ctx context.Context, d flotilla.Run, dep string) (string, error) {
	if d.Parent == "" || d.ArrayIndex == nil {
		return fmt.Sprintf("run %s, which it waited for, does not exist", dep), nil
	}
	p, err := s.Store.GetRun(ctx, d.Parent)
	if err != nil {
		return "", fmt.Errorf("settle run %s: read its array %s: %w", d.ID, d.Parent, err)
	}
	if p.Array == nil {
		return fmt.Sprintf("run %s, which it waited for, does not exist", dep), nil
	}
	for _, x := range p.Array.AfterEach {
		if id, _ := ids.Child(x, *d.ArrayIndex); id != dep {
			continue
		}
		other, err := s.Store.GetRun(ctx, x)
		if err != nil {
			return "", fmt.Errorf("settle run %s: read array %s: %w", d.ID, x, err)
		}
		if other.Status.Terminal() {
			return fmt.Sprintf("array %s ended %s before it made child %d, which this run waited for", x, other.Status, *d.ArrayIndex), nil
		}
		return "", nil
	}
	return fmt.Sprintf("run %s, which it waited for, does not exist", dep), nil
}

func (s *Service) dependencyFailed(ctx context.Context, d flotilla.Run, why string) error {
	_, err := s.transition(ctx, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusStopped,
		At: s.now(), Source: flotilla.SourceDispatcher, ReasonCode: flotilla.ReasonDependencyFailed, Reason: why})
	return ignoreConflict(err)
}

// sweepWaiting is the sweep's part for WAITING runs of cluster c: it
// settles those whose dependencies ended while the news was lost (a crash
// between a run's end and its settling), and re-sends the work of arrays
// whose message was lost. It looks at most maxSweepWaiting of them a
// sweep, going on where the last sweep stopped (a cursor per cluster,
// kept while the process lives; a new process starts from the newest), so
// every waiting run is reached however many wait.
func (s *Service) sweepWaiting(ctx context.Context, c flotilla.Cluster, now time.Time, recovering bool) error {
	f := flotilla.RunFilter{Cluster: c.Name, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Limit: 500}
	s.mu.Lock()
	f.NextToken = s.waitingCursor[c.Name]
	s.mu.Unlock()
	next := ""
	defer func() {
		s.mu.Lock()
		if s.waitingCursor == nil {
			s.waitingCursor = map[string]string{}
		}
		s.waitingCursor[c.Name] = next
		s.mu.Unlock()
	}()
	for seen := 0; seen < maxSweepWaiting; {
		page, err := s.Store.ListRuns(ctx, f)
		if errors.Is(err, flotilla.ErrInvalid) && f.NextToken != "" {
			f.NextToken = "" // a cursor of another version: start again
			continue
		}
		if err != nil {
			return fmt.Errorf("sweep %s: waiting runs: %w", c.Name, err)
		}
		for _, r := range page.Items {
			seen++
			if !recovering && now.Sub(r.QueuedAt) < s.stuckAfter() {
				continue // young: its own events settle it
			}
			var err error
			switch {
			case r.WaitReason == flotilla.WaitDependencies:
				err = s.settleDependent(ctx, r)
			case r.Array != nil:
				if r.StopRequest != nil || r.Array.Created < r.Array.Size {
					// Deduplicated per minute, so a message still on its
					// way is not doubled.
					s.sendArray(ctx, r, "sweep"+now.Truncate(time.Minute).Format("1504"))
				}
				err = s.settleArray(ctx, r.ID)
			}
			if err != nil {
				s.log().Warn("sweep of a waiting run failed", "run_id", r.ID, "cluster", c.Name, "err", err)
			}
		}
		if page.NextToken == "" {
			return nil // through: the next sweep starts from the newest
		}
		f.NextToken, next = page.NextToken, page.NextToken
	}
	return nil
}

// maxSweepWaiting bounds the WAITING runs one sweep looks at per cluster.
const maxSweepWaiting = 5000

// RetryFailed launches, for who, a new array that runs again the children
// of the ended array parentID that failed or were stopped, with their
// indexes and items; a second call returns the same new array.
func (s *Service) RetryFailed(ctx context.Context, who, parentID string) (flotilla.Run, bool, error) {
	p, err := s.Store.GetRun(ctx, parentID)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("retry the failed children of %s: %w", parentID, err)
	}
	switch {
	case p.Array == nil:
		return flotilla.Run{}, false, flotilla.Conflict("run", "run %s is not an array", p.ID)
	case !p.Status.Terminal():
		return flotilla.Run{}, false, flotilla.Conflict("run", "array %s has not ended (%s): retry its failed children once it has", p.ID, p.Status)
	}
	sum, err := s.Store.ChildSummary(ctx, p.ID)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("retry the failed children of %s: %w", p.ID, err)
	}
	if len(sum.FailedIndexes) == 0 {
		return flotilla.Run{}, false, flotilla.Conflict("run", "array %s has no failed or stopped children", p.ID)
	}
	all, err := s.elements(ctx, p, 0, p.Array.Size)
	if err != nil {
		return flotilla.Run{}, false, err
	}
	byIndex := map[int]flotilla.ArrayElement{}
	for _, e := range all {
		byIndex[e.Index] = e
	}
	elems := make([]flotilla.ArrayElement, 0, len(sum.FailedIndexes))
	for _, i := range sum.FailedIndexes {
		elems = append(elems, byIndex[i])
	}
	now := s.now()
	r := p
	r.ID = ids.New(ids.Run, now)
	// It belongs to the array's owner whoever asks, so that there is one
	// retry of an array (its idempotency key is the owner's).
	r.Status, r.WaitReason = flotilla.StatusWaiting, flotilla.WaitChildren
	r.StatusReason = fmt.Sprintf("runs again the %d children of %s that failed or were stopped (asked by %s)", len(elems), p.ID, who)
	// Its children wait for the same partners as the ones they replace.
	r.Array = &flotilla.Array{Size: len(elems), Listed: true, Items: p.Array.Items, RetryOf: p.ID,
		AfterEach: slices.Clone(p.Array.AfterEach), ParametersSchema: p.Array.ParametersSchema}
	r.After, r.StopRequest, r.ExitCode, r.StartedAt, r.FinishedAt, r.CostUSD, r.ReasonCode = nil, nil, nil, nil, nil, nil, ""
	r.Attempts, r.Attempt, r.QueuedAt = []flotilla.Attempt{{Attempt: 1, QueuedAt: now}}, 1, now
	r.IdempotencyKey, r.RequestHash, r.ScheduleID = "flotilla-retry-failed:"+p.ID, "", ""
	if p.EstimatedCostUSD != nil && p.Array.Size > 0 {
		est := *p.EstimatedCostUSD / float64(p.Array.Size) * float64(len(elems))
		r.EstimatedCostUSD = &est
	}
	if err := s.Store.PutArrayElements(ctx, r.ID, elems); err != nil {
		return flotilla.Run{}, false, fmt.Errorf("retry the failed children of %s: %w", p.ID, err)
	}
	stored, created, err := s.Store.CreateRun(ctx, r)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("retry the failed children of %s: %w", p.ID, err)
	}
	if created {
		s.sendArray(ctx, stored, "")
	}
	return stored, created, nil
}

// WithSummary fills in an array parent's summary of its children.
func (s *Service) WithSummary(ctx context.Context, r flotilla.Run) (flotilla.Run, error) {
	if r.Array == nil {
		return r, nil
	}
	sum, err := s.Store.ChildSummary(ctx, r.ID)
	if err != nil {
		return r, fmt.Errorf("run %s: its children: %w", r.ID, err)
	}
	a := *r.Array
	a.Summary = &sum
	r.Array = &a
	return r, nil
}
