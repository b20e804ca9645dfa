package awsfake

// The EventBridge Scheduler fake. Unlike ECS and CloudWatch Logs, EventBridge
// Scheduler speaks REST-JSON: the operation is the method and path
// (POST/PUT/GET/DELETE /schedules/{Name}), the group travels in the body on
// writes and in the groupName query parameter on reads and deletes, and
// errors carry their type in the X-Amzn-ErrorType header.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// SchedulerOptions configure a Scheduler fake.
type SchedulerOptions struct {
	// Groups are the schedule groups that exist besides "default" (the
	// CDK stack creates Flotilla's; the fake, like the service, refuses
	// schedules in a group that does not exist).
	Groups []string
	Faults Faults
	// Now is the clock of creation and modification dates (default time.Now).
	Now func() time.Time
}

// Scheduler is an in-memory EventBridge Scheduler: schedules in groups,
// validated as the service validates them, and Invoke to play a delivery.
type Scheduler struct {
	mu        sync.Mutex
	groups    map[string]bool
	schedules map[string]*SchedulerSchedule // by group + "/" + name
	faults    *faulter
	now       func() time.Time
	mux       *http.ServeMux
	requests  map[string]int
}

// SchedulerTarget is a schedule's target as the fake keeps it.
type SchedulerTarget struct {
	Arn         string                `json:"Arn"`
	RoleArn     string                `json:"RoleArn"`
	Input       *string               `json:"Input,omitempty"`
	RetryPolicy *SchedulerRetryPolicy `json:"RetryPolicy,omitempty"`
	// DeadLetterConfig is kept as sent (EventBridge Scheduler API
	// Reference, Target.DeadLetterConfig: {"Arn": <SQS queue ARN>}).
	DeadLetterConfig *struct {
		Arn string `json:"Arn"`
	} `json:"DeadLetterConfig,omitempty"`
}

// SchedulerRetryPolicy is a target's retry policy.
type SchedulerRetryPolicy struct {
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds,omitempty"`
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts,omitempty"`
}

// SchedulerWindow is a schedule's flexible time window.
type SchedulerWindow struct {
	Mode                   string `json:"Mode"`
	MaximumWindowInMinutes *int   `json:"MaximumWindowInMinutes,omitempty"`
}

// SchedulerSchedule is one schedule, in the shape GetSchedule returns.
type SchedulerSchedule struct {
	Arn                        string           `json:"Arn"`
	Name                       string           `json:"Name"`
	GroupName                  string           `json:"GroupName"`
	Description                string           `json:"Description,omitempty"`
	ScheduleExpression         string           `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string           `json:"ScheduleExpressionTimezone,omitempty"`
	State                      string           `json:"State"`
	FlexibleTimeWindow         *SchedulerWindow `json:"FlexibleTimeWindow"`
	Target                     *SchedulerTarget `json:"Target"`
	StartDate                  *float64         `json:"StartDate,omitempty"`
	EndDate                    *float64         `json:"EndDate,omitempty"`
	ActionAfterCompletion      string           `json:"ActionAfterCompletion,omitempty"`
	KmsKeyArn                  string           `json:"KmsKeyArn,omitempty"`
	CreationDate               float64          `json:"CreationDate"`
	LastModificationDate       float64          `json:"LastModificationDate"`
}

// schedulerWrite is the body of CreateSchedule and UpdateSchedule.
type schedulerWrite struct {
	ActionAfterCompletion      string           `json:"ActionAfterCompletion"`
	ClientToken                string           `json:"ClientToken"`
	Description                *string          `json:"Description"`
	EndDate                    *float64         `json:"EndDate"`
	FlexibleTimeWindow         *SchedulerWindow `json:"FlexibleTimeWindow"`
	GroupName                  string           `json:"GroupName"`
	KmsKeyArn                  string           `json:"KmsKeyArn"`
	ScheduleExpression         string           `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string           `json:"ScheduleExpressionTimezone"`
	StartDate                  *float64         `json:"StartDate"`
	State                      string           `json:"State"`
	Target                     *SchedulerTarget `json:"Target"`
}

// NewScheduler returns an EventBridge Scheduler fake; serve it with Serve.
func NewScheduler(o SchedulerOptions) *Scheduler {
	f := &Scheduler{groups: map[string]bool{"default": true}, schedules: map[string]*SchedulerSchedule{},
		faults: newFaulter(o.Faults), now: o.Now, requests: map[string]int{}}
	if f.now == nil {
		f.now = time.Now
	}
	for _, g := range o.Groups {
		f.groups[g] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /schedules/{Name}", f.serve("CreateSchedule", f.create))
	mux.HandleFunc("PUT /schedules/{Name}", f.serve("UpdateSchedule", f.update))
	mux.HandleFunc("GET /schedules/{Name}", f.serve("GetSchedule", f.get))
	mux.HandleFunc("DELETE /schedules/{Name}", f.serve("DeleteSchedule", f.delete))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeSchedulerErr(w, &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", msg: r.Method + " " + r.URL.Path})
	})
	f.mux = mux
	return f
}

// ServeHTTP implements http.Handler.
func (f *Scheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// Requests returns how many requests each operation received (faulted
// ones included).
func (f *Scheduler) Requests() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.requests))
	for k, v := range f.requests {
		out[k] = v
	}
	return out
}

// Schedule returns a copy of a schedule.
func (f *Scheduler) Schedule(group, name string) (SchedulerSchedule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.schedules[group+"/"+name]
	if !ok {
		return SchedulerSchedule{}, false
	}
	return *s, true
}

// Names lists a group's schedule names, sorted.
func (f *Scheduler) Names(group string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.schedules {
		if s.GroupName == group {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Invoke plays one delivery of an enabled schedule at a scheduled time: it
// returns the target's input with the context attributes substituted, as
// the service sends it to the target.
func (f *Scheduler) Invoke(group, name string, scheduled time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.schedules[group+"/"+name]
	switch {
	case !ok:
		return "", fmt.Errorf("schedule %s/%s does not exist", group, name)
	case s.State != "ENABLED":
		return "", fmt.Errorf("schedule %s/%s is %s", group, name, s.State)
	case s.Target.Input == nil:
		return "", nil
	}
	return strings.NewReplacer(
		"<aws.scheduler.schedule-arn>", s.Arn,
		"<aws.scheduler.scheduled-time>", scheduled.UTC().Format(time.RFC3339),
		"<aws.scheduler.execution-id>", fmt.Sprintf("fake-%s-%d", name, scheduled.Unix()),
		"<aws.scheduler.attempt-number>", "1",
	).Replace(*s.Target.Input), nil
}

type schedulerHandler func(r *http.Request, name string) (any, *apiError)

func (f *Scheduler) serve(op string, h schedulerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests[op]++
		f.mu.Unlock()
		w.Header().Set("X-Amzn-Requestid", "fake-request")
		switch f.faults.draw(op) {
		case http.StatusBadRequest:
			writeSchedulerErr(w, &apiError{status: http.StatusTooManyRequests, typ: "ThrottlingException", msg: "Rate exceeded"})
			return
		case http.StatusInternalServerError:
			writeSchedulerErr(w, serverErr("InternalServerException"))
			return
		}
		out, aerr := h(r, r.PathValue("Name"))
		if aerr != nil {
			writeSchedulerErr(w, aerr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

func writeSchedulerErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Message": e.msg})
}

func schedulerInvalid(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "ValidationException", msg: fmt.Sprintf(format, args...)}
}

func schedulerNotFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "ResourceNotFoundException", msg: fmt.Sprintf(format, args...)}
}

var (
	schedulerName = regexp.MustCompile(`^[0-9a-zA-Z-_.]{1,64}$`)
	schedulerExpr = regexp.MustCompile(`^(cron|rate|at)\(.+\)$`)
)

func readSchedulerWrite(r *http.Request) (schedulerWrite, *apiError) {
	var in schedulerWrite
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, schedulerInvalid("could not read the request body: %v", err)
	}
	if in.GroupName == "" {
		in.GroupName = "default"
	}
	return in, nil
}

// check validates a write as the service does (the subset Flotilla uses).
func (f *Scheduler) check(name string, in schedulerWrite) *apiError {
	switch {
	case !schedulerName.MatchString(name):
		return schedulerInvalid("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+", name)
	case !schedulerExpr.MatchString(in.ScheduleExpression) || len(in.ScheduleExpression) > 256:
		return schedulerInvalid("Invalid Schedule Expression %s.", in.ScheduleExpression)
	case in.FlexibleTimeWindow == nil:
		return schedulerInvalid("1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null")
	case in.FlexibleTimeWindow.Mode != "OFF" && in.FlexibleTimeWindow.Mode != "FLEXIBLE":
		return schedulerInvalid("Invalid FlexibleTimeWindow mode %q.", in.FlexibleTimeWindow.Mode)
	case in.FlexibleTimeWindow.Mode == "OFF" && in.FlexibleTimeWindow.MaximumWindowInMinutes != nil:
		return schedulerInvalid("MaximumWindowInMinutes must not be set when the mode is OFF.")
	case in.FlexibleTimeWindow.Mode == "FLEXIBLE" && (in.FlexibleTimeWindow.MaximumWindowInMinutes == nil ||
		*in.FlexibleTimeWindow.MaximumWindowInMinutes < 1 || *in.FlexibleTimeWindow.MaximumWindowInMinutes > 1440):
		return schedulerInvalid("MaximumWindowInMinutes must be between 1 and 1440 when the mode is FLEXIBLE.")
	case in.Target == nil || in.Target.Arn == "" || in.Target.RoleArn == "":
		return schedulerInvalid("The target must have an Arn and a RoleArn.")
	case in.State != "" && in.State != "ENABLED" && in.State != "DISABLED":
		return schedulerInvalid("Invalid State %q.", in.State)
	case in.Description != nil && len(*in.Description) > 512:
		return schedulerInvalid("Description must be at most 512 characters.")
	}
	if tz := in.ScheduleExpressionTimezone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			return schedulerInvalid("Invalid Schedule Expression Timezone %s.", tz)
		}
	}
	if !f.groups[in.GroupName] {
		return schedulerNotFound("Schedule group %s does not exist.", in.GroupName)
	}
	return nil
}

func (f *Scheduler) apply(s *SchedulerSchedule, in schedulerWrite) {
	s.Description = ""
	if in.Description != nil {
		s.Description = *in.Description
	}
	s.ScheduleExpression = in.ScheduleExpression
	s.ScheduleExpressionTimezone = in.ScheduleExpressionTimezone
	s.State = in.State
	if s.State == "" {
		s.State = "ENABLED"
	}
	s.FlexibleTimeWindow = in.FlexibleTimeWindow
	s.Target = in.Target
	s.StartDate, s.EndDate = in.StartDate, in.EndDate
	s.ActionAfterCompletion, s.KmsKeyArn = in.ActionAfterCompletion, in.KmsKeyArn
	s.LastModificationDate = schedulerEpoch(f.now())
}

func schedulerEpoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (f *Scheduler) create(r *http.Request, name string) (any, *apiError) {
	in, aerr := readSchedulerWrite(r)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := f.check(name, in); aerr != nil {
		return nil, aerr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := in.GroupName + "/" + name
	if _, ok := f.schedules[key]; ok {
		return nil, &apiError{status: http.StatusConflict, typ: "ConflictException", msg: fmt.Sprintf("Schedule %s already exists.", name)}
	}
	s := &SchedulerSchedule{Name: name, GroupName: in.GroupName, CreationDate: schedulerEpoch(f.now()),
		Arn: "arn:aws:scheduler:us-east-1:123456789012:schedule/" + key}
	f.apply(s, in)
	f.schedules[key] = s
	return map[string]string{"ScheduleArn": s.Arn}, nil
}

func (f *Scheduler) update(r *http.Request, name string) (any, *apiError) {
	in, aerr := readSchedulerWrite(r)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := f.check(name, in); aerr != nil {
		return nil, aerr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.schedules[in.GroupName+"/"+name]
	if !ok {
		return nil, schedulerNotFound("Schedule %s does not exist.", name)
	}
	f.apply(s, in)
	return map[string]string{"ScheduleArn": s.Arn}, nil
}

func (f *Scheduler) get(r *http.Request, name string) (any, *apiError) {
	group := r.URL.Query().Get("groupName")
	if group == "" {
		group = "default"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.schedules[group+"/"+name]
	if !ok {
		return nil, schedulerNotFound("Schedule %s does not exist.", name)
	}
	return *s, nil
}

func (f *Scheduler) delete(r *http.Request, name string) (any, *apiError) {
	group := r.URL.Query().Get("groupName")
	if group == "" {
		group = "default"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := group + "/" + name
	if _, ok := f.schedules[key]; !ok {
		return nil, schedulerNotFound("Schedule %s does not exist.", name)
	}
	delete(f.schedules, key)
	return struct{}{}, nil
}
