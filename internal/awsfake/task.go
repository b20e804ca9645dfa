package awsfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// task is one ECS task the fake runs.
type task struct {
	id, arn, cluster, clusterArn, tdArn, family string
	startedBy, group, launchType, cpu, memory   string
	overrides                                   json.RawMessage
	tags                                        []Tag

	lastStatus, desiredStatus string
	version                   int64
	stopCode, stoppedReason   string
	createdAt, updatedAt      time.Time
	pullStartedAt, pullStoppedAt, connectivityAt,
	startedAt, stoppingAt, executionStoppedAt, stoppedAt time.Time
	containers []*container

	life      Life
	prog      program
	logGroup  string
	logStream string
	steps     []step
	wake      chan struct{} // closed when StopTask re-plans the steps
	held      bool          // RUNNING until StopTask or Release
	driven    bool          // a goroutine is moving it (Auto)
}

// step is one move in a task's life. apply reports whether the task's
// state changed (a new version and event); sleep is the time the command
// sleeps before it (Auto mode).
type step struct {
	sleep time.Duration
	apply func(f *ECS, t *task, now time.Time) bool
}

func change(fn func(t *task, now time.Time)) step {
	return step{apply: func(_ *ECS, t *task, now time.Time) bool { fn(t, now); return true }}
}

type container struct {
	name, image, arn, lastStatus, reason string
	exitCode                             *int
	sidecar                              bool // not essential: stopped when the job's container exits
}

// plan returns the steps of the task's life after PROVISIONING.
func (t *task) plan() []step {
	l := t.life
	switch {
	case l.FailToStart != "":
		return []step{change(func(t *task, now time.Time) {
			t.containers = nil
			t.finish(now, "TaskFailedToStart", l.FailToStart)
		})}
	case l.PullError != "":
		reason := "CannotPullContainerError: " + l.PullError
		return []step{
			change((*task).pending),
			change(func(t *task, now time.Time) {
				for _, c := range t.containers {
					c.lastStatus, c.reason = "STOPPED", reason
				}
				t.finish(now, "TaskFailedToStart", reason)
			}),
		}
	case l.ContainerError != "":
		return []step{
			change((*task).pending),
			change(func(t *task, now time.Time) {
				for _, c := range t.containers {
					c.lastStatus = "STOPPED"
					if !c.sidecar {
						c.reason = l.ContainerError
					}
				}
				t.finish(now, "EssentialContainerExited", "Essential container in task exited")
			}),
		}
	}
	exit, reason := t.prog.exit, ""
	stopCode, stoppedReason := "EssentialContainerExited", "Essential container in task exited"
	switch {
	case l.OOM:
		exit, reason = 137, "OutOfMemoryError: Container killed due to memory usage"
	case l.SpotInterruption:
		exit, stopCode, stoppedReason = 143, "SpotInterruption", "Your Spot Task was interrupted."
	case l.StopFromOutside:
		exit, stopCode, stoppedReason = 143, "UserInitiated", "Task stopped by user"
	}
	steps := []step{
		change((*task).pending),
		{apply: func(f *ECS, t *task, now time.Time) bool {
			t.running(now)
			f.write(t, now, t.prog.segments[0])
			return true
		}},
	}
	for i, d := range t.prog.sleeps {
		lines := t.prog.segments[i+1]
		steps = append(steps, step{sleep: d, apply: func(f *ECS, t *task, now time.Time) bool {
			f.write(t, now, lines)
			return false
		}})
	}
	if l.Hold {
		steps = append(steps, step{apply: func(_ *ECS, t *task, _ time.Time) bool { t.held = true; return false }})
	}
	return append(steps,
		change(func(t *task, now time.Time) { t.deprovision(now, stopCode, stoppedReason, &exit, reason) }),
		change((*task).stopped),
	)
}

func (t *task) pending(now time.Time) {
	t.lastStatus = "PENDING"
	t.pullStartedAt, t.connectivityAt = now, now
}

func (t *task) running(now time.Time) {
	t.lastStatus = "RUNNING"
	t.pullStoppedAt, t.startedAt = now, now
	for _, c := range t.containers {
		c.lastStatus = "RUNNING"
	}
}

func (t *task) deprovision(now time.Time, stopCode, stoppedReason string, exit *int, reason string) {
	t.lastStatus, t.desiredStatus = "DEPROVISIONING", "STOPPED"
	if t.stopCode == "" {
		t.stopCode, t.stoppedReason = stopCode, stoppedReason
	}
	if t.stoppingAt.IsZero() {
		t.stoppingAt = now
	}
	t.executionStoppedAt = now
	for _, c := range t.containers {
		c.lastStatus = "STOPPED"
		if c.sidecar {
			sigterm := 143
			c.exitCode = &sigterm
			continue
		}
		if exit != nil {
			code := *exit
			c.exitCode = &code
		}
		if reason != "" {
			c.reason = reason
		}
	}
}

func (t *task) stopped(now time.Time) {
	t.lastStatus = "STOPPED"
	t.stoppedAt = now
}

// finish stops a task that never ran.
func (t *task) finish(now time.Time, stopCode, reason string) {
	if t.stopCode == "" {
		t.stopCode, t.stoppedReason = stopCode, reason
	}
	t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
	if t.stoppingAt.IsZero() {
		t.stoppingAt = now
	}
	t.executionStoppedAt, t.stoppedAt = now, now
	for _, c := range t.containers {
		c.lastStatus = "STOPPED"
	}
}

// stop applies StopTask: the desired status changes now (a new version and
// event), the task stops in its next steps.
func (t *task) stop(now time.Time, reason string) {
	t.desiredStatus = "STOPPED"
	t.stopCode, t.stoppedReason = "UserInitiated", reason
	t.stoppingAt = now
	t.held = false
	t.version++
	t.updatedAt = now
	switch t.lastStatus {
	case "RUNNING":
		sigterm := 143
		t.steps = []step{
			change(func(t *task, now time.Time) { t.deprovision(now, "", "", &sigterm, "") }),
			change((*task).stopped),
		}
	case "PROVISIONING", "PENDING":
		t.steps = []step{change(func(t *task, now time.Time) { t.finish(now, "", "") })}
	}
	close(t.wake)
	t.wake = make(chan struct{})
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// json renders the task as DescribeTasks does (epoch seconds) or as an
// event's detail does (ISO-8601).
func (t *task) json(isoTimes bool) map[string]any {
	m := map[string]any{
		"taskArn": t.arn, "clusterArn": t.clusterArn, "taskDefinitionArn": t.tdArn,
		"lastStatus": t.lastStatus, "desiredStatus": t.desiredStatus, "version": t.version,
		"startedBy": t.startedBy, "group": t.group, "launchType": t.launchType,
		"cpu": t.cpu, "memory": t.memory, "availabilityZone": "us-east-1a",
		"enableExecuteCommand": false, "platformVersion": "1.4.0", "platformFamily": "Linux",
		"ephemeralStorage": map[string]any{"sizeInGiB": 20},
		"attachments": []any{map[string]any{"id": shortID(t.id + "eni"), "type": "ElasticNetworkInterface", "status": "ATTACHED",
			"details": []any{map[string]any{"name": "subnetId", "value": "subnet-0fake"}, map[string]any{"name": "privateIPv4Address", "value": "10.0.1.23"}}}},
	}
	if t.overrides != nil {
		m["overrides"] = t.overrides
	} else {
		m["overrides"] = map[string]any{"containerOverrides": []any{}}
	}
	ts := func(name string, at time.Time) {
		if at.IsZero() {
			return
		}
		if isoTimes {
			m[name] = iso(at)
		} else {
			m[name] = epoch(at)
		}
	}
	ts("createdAt", t.createdAt)
	ts("connectivityAt", t.connectivityAt)
	ts("pullStartedAt", t.pullStartedAt)
	ts("pullStoppedAt", t.pullStoppedAt)
	ts("startedAt", t.startedAt)
	ts("stoppingAt", t.stoppingAt)
	ts("executionStoppedAt", t.executionStoppedAt)
	ts("stoppedAt", t.stoppedAt)
	if isoTimes {
		ts("updatedAt", t.updatedAt)
	}
	if !t.connectivityAt.IsZero() {
		m["connectivity"] = "CONNECTED"
	}
	if t.stopCode != "" {
		m["stopCode"] = t.stopCode
	}
	if t.stoppedReason != "" {
		m["stoppedReason"] = t.stoppedReason
	}
	cs := []any{}
	for _, c := range t.containers {
		cm := map[string]any{"containerArn": c.arn, "name": c.name, "image": c.image, "lastStatus": c.lastStatus,
			"taskArn": t.arn, "cpu": "0", "networkInterfaces": []any{map[string]any{"attachmentId": shortID(t.id + "eni"), "privateIpv4Address": "10.0.1.23"}}}
		if c.lastStatus != "PENDING" {
			cm["runtimeId"] = t.id + "-" + shortID(c.name)
			cm["imageDigest"] = "sha256:" + shortID(c.image) + shortID(c.image+"2")
		}
		if c.exitCode != nil {
			cm["exitCode"] = *c.exitCode
		}
		if c.reason != "" {
			cm["reason"] = c.reason
		}
		cs = append(cs, cm)
	}
	m["containers"] = cs
	return m
}

// event renders the task as an EventBridge "ECS Task State Change" event.
func (t *task) event(f *ECS) []byte {
	sum := sha256.Sum256([]byte(t.id + "/" + time.Now().String() + string(rune(t.version))))
	h := hex.EncodeToString(sum[:16])
	ev := map[string]any{
		"version": "0", "id": h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32],
		"detail-type": "ECS Task State Change", "source": "aws.ecs", "account": f.opts.Account,
		"time": t.updatedAt.UTC().Format(time.RFC3339), "region": f.opts.Region,
		"resources": []string{t.arn}, "detail": t.json(true),
	}
	b, _ := json.Marshal(ev)
	return b
}

// eventBus delivers events to subscribers in order on one goroutine, so a
// subscriber may call back into the fake.
type eventBus struct {
	mu      sync.Mutex
	cond    *sync.Cond
	subs    []func([]byte)
	queue   [][]byte
	all     [][]byte
	running bool
}

func newEventBus() *eventBus {
	b := &eventBus{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *eventBus) subscribe(fn func([]byte)) {
	b.mu.Lock()
	b.subs = append(b.subs, fn)
	b.mu.Unlock()
}

func (b *eventBus) emit(events ...[]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		if ev == nil {
			continue
		}
		b.all = append(b.all, ev)
		if len(b.subs) > 0 {
			b.queue = append(b.queue, ev)
		}
	}
	if len(b.queue) > 0 && !b.running {
		b.running = true
		go b.deliver()
	}
}

func (b *eventBus) deliver() {
	b.mu.Lock()
	for len(b.queue) > 0 {
		ev := b.queue[0]
		b.queue = b.queue[1:]
		subs := b.subs
		b.mu.Unlock()
		for _, fn := range subs {
			fn(ev)
		}
		b.mu.Lock()
	}
	b.running = false
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *eventBus) flush() {
	b.mu.Lock()
	for b.running || len(b.queue) > 0 {
		b.cond.Wait()
	}
	b.mu.Unlock()
}

func (b *eventBus) history() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([][]byte, len(b.all))
	copy(out, b.all)
	return out
}
