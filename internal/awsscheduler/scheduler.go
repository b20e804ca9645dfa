// Package awsscheduler makes Flotilla schedules fire in AWS: one Amazon
// EventBridge Scheduler schedule per Flotilla schedule, named after its
// schedule_id, in one schedule group ("flotilla", created by the CDK stack).
//
// Each EventBridge schedule carries the Flotilla schedule's expression (the
// same syntax, canonicalised by package cron) and IANA time zone
// (ScheduleExpressionTimezone), fires exactly on time (FlexibleTimeWindow
// OFF), is ENABLED or DISABLED with the Flotilla schedule, and targets one
// Lambda function, through a role EventBridge Scheduler assumes, with the
// input
//
//	{"schedule_id": "sch_…", "scheduled_time": "<aws.scheduler.scheduled-time>"}
//
// where EventBridge Scheduler substitutes the scheduled time. The function
// hands it to schedules.Service.HandleScheduledEvent, whose idempotency key
// (schedule id + scheduled time) turns EventBridge Scheduler's at-least-once
// delivery into exactly one run.
//
// Scheduler implements schedules.Trigger. SDK errors are translated once,
// here, to the domain's codes.
package awsscheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// DefaultGroup is the schedule group Flotilla's schedules live in.
const DefaultGroup = "flotilla"

// API is the part of *scheduler.Client the adapter uses.
type API interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

var _ API = (*scheduler.Client)(nil)

// Config says where the schedules live and what they invoke.
type Config struct {
	// Group is the schedule group (default DefaultGroup). It must exist.
	Group string
	// TargetArn is the ARN of the Lambda function that launches the runs
	// (required).
	TargetArn string
	// RoleArn is the role EventBridge Scheduler assumes to invoke it
	// (required; lambda:InvokeFunction on TargetArn only).
	RoleArn string
	// MaximumEventAgeSeconds bounds how long EventBridge Scheduler keeps
	// retrying a delivery (60-86400; 0 keeps the service default, 24 h).
	MaximumEventAgeSeconds int32
	// DeadLetterArn is the SQS queue that receives an invocation EventBridge
	// Scheduler could not deliver after its retries, instead of dropping it
	// (EventBridge Scheduler User Guide, "Configuring a dead-letter queue");
	// RoleArn must be allowed sqs:SendMessage on it. Optional.
	DeadLetterArn string
}

// Scheduler creates, updates and deletes the EventBridge schedules.
type Scheduler struct {
	api API
	cfg Config
}

// New returns the adapter; it checks the configuration, not AWS.
// FromConfig builds the EventBridge Scheduler client on cfg (at endpoint
// when not empty) and the adapter on it.
func FromConfig(cfg aws.Config, endpoint string, c Config) (*Scheduler, error) {
	return New(scheduler.NewFromConfig(cfg, func(o *scheduler.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), c)
}

func New(api API, cfg Config) (*Scheduler, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.TargetArn == "" || cfg.RoleArn == "" {
		return nil, errors.New("awsscheduler: TargetArn and RoleArn are required")
	}
	if a := cfg.MaximumEventAgeSeconds; a != 0 && (a < 60 || a > 86400) {
		return nil, fmt.Errorf("awsscheduler: MaximumEventAgeSeconds %d is outside 60-86400", a)
	}
	return &Scheduler{api: api, cfg: cfg}, nil
}

// Group is the schedule group in use.
func (s *Scheduler) Group() string { return s.cfg.Group }

// Payload is the input of every schedule's target, before EventBridge
// Scheduler substitutes the scheduled time.
func Payload(scheduleID string) string {
	// Not json.Marshal: it escapes < and > as \u003c and \u003e, and
	// EventBridge Scheduler substitutes only the literal placeholder.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"schedule_id": scheduleID, "scheduled_time": "<aws.scheduler.scheduled-time>"})
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *Scheduler) target(id string) *types.Target {
	t := &types.Target{Arn: aws.String(s.cfg.TargetArn), RoleArn: aws.String(s.cfg.RoleArn), Input: aws.String(Payload(id))}
	if s.cfg.MaximumEventAgeSeconds != 0 {
		t.RetryPolicy = &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(s.cfg.MaximumEventAgeSeconds)}
	}
	if s.cfg.DeadLetterArn != "" {
		t.DeadLetterConfig = &types.DeadLetterConfig{Arn: aws.String(s.cfg.DeadLetterArn)}
	}
	return t
}

func state(enabled bool) types.ScheduleState {
	if enabled {
		return types.ScheduleStateEnabled
	}
	return types.ScheduleStateDisabled
}

// description is the Flotilla name, within EventBridge's 512 characters.
func description(name string) *string {
	if len(name) > 512 {
		name = name[:512]
	}
	return aws.String(name)
}

// Put creates or replaces the EventBridge schedule of sch (it implements
// schedules.Trigger). A new schedule (version 1) is created, others are
// updated; either falls back to the other when EventBridge disagrees, so a
// retried or half-done change converges.
func (s *Scheduler) Put(ctx context.Context, sch flotilla.Schedule) error {
	var err error
	if sch.Version <= 1 {
		err = s.create(ctx, sch)
		if errors.Is(err, flotilla.ErrConflict) {
			err = s.update(ctx, sch)
		}
	} else {
		err = s.update(ctx, sch)
		if errors.Is(err, flotilla.ErrNotFound) {
			err = s.create(ctx, sch)
		}
	}
	if err != nil {
		return fmt.Errorf("put EventBridge schedule %s/%s: %w", s.cfg.Group, sch.ID, err)
	}
	return nil
}

func (s *Scheduler) create(ctx context.Context, sch flotilla.Schedule) error {
	_, err := s.api.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(sch.ID),
		GroupName:                  aws.String(s.cfg.Group),
		Description:                description(sch.Name),
		ScheduleExpression:         aws.String(sch.Expression),
		ScheduleExpressionTimezone: aws.String(sch.Timezone),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		State:                      state(sch.Enabled),
		Target:                     s.target(sch.ID),
	})
	err = translate(err)
	if errors.Is(err, flotilla.ErrNotFound) {
		// On create, the only thing that can be missing is the group: a
		// deployment problem, not the caller's.
		return fmt.Errorf("schedule group %q does not exist (the CDK stack creates it): %v", s.cfg.Group, err)
	}
	return err
}

func (s *Scheduler) update(ctx context.Context, sch flotilla.Schedule) error {
	// UpdateSchedule replaces every field: unset ones reset to defaults.
	_, err := s.api.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
		Name:                       aws.String(sch.ID),
		GroupName:                  aws.String(s.cfg.Group),
		Description:                description(sch.Name),
		ScheduleExpression:         aws.String(sch.Expression),
		ScheduleExpressionTimezone: aws.String(sch.Timezone),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		State:                      state(sch.Enabled),
		Target:                     s.target(sch.ID),
	})
	return translate(err)
}

// Delete removes the EventBridge schedule; a missing one is not an error
// (it implements schedules.Trigger).
func (s *Scheduler) Delete(ctx context.Context, scheduleID string) error {
	_, err := s.api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(scheduleID), GroupName: aws.String(s.cfg.Group)})
	if err = translate(err); err != nil && !errors.Is(err, flotilla.ErrNotFound) {
		return fmt.Errorf("delete EventBridge schedule %s/%s: %w", s.cfg.Group, scheduleID, err)
	}
	return nil
}

// Remote is what EventBridge Scheduler holds for a Flotilla schedule.
type Remote struct {
	Expression string
	Timezone   string
	Enabled    bool
	TargetArn  string
	Input      string
}

// Get reads the EventBridge schedule of a Flotilla schedule (for a sweep
// that checks both sides agree). ErrNotFound when it does not exist.
func (s *Scheduler) Get(ctx context.Context, scheduleID string) (Remote, error) {
	out, err := s.api.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(scheduleID), GroupName: aws.String(s.cfg.Group)})
	if err != nil {
		return Remote{}, fmt.Errorf("get EventBridge schedule %s/%s: %w", s.cfg.Group, scheduleID, translate(err))
	}
	r := Remote{Expression: aws.ToString(out.ScheduleExpression), Timezone: aws.ToString(out.ScheduleExpressionTimezone),
		Enabled: out.State == types.ScheduleStateEnabled}
	if out.Target != nil {
		r.TargetArn, r.Input = aws.ToString(out.Target.Arn), aws.ToString(out.Target.Input)
	}
	return r, nil
}

// translate maps EventBridge Scheduler's errors to the domain's codes,
// keeping the original in the chain.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var (
		notFound *types.ResourceNotFoundException
		conflict *types.ConflictException
		invalid  *types.ValidationException
		throttle *types.ThrottlingException
		quota    *types.ServiceQuotaExceededException
	)
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: %w", flotilla.ErrNotFound, err)
	case errors.As(err, &conflict):
		return fmt.Errorf("%w: %w", flotilla.ErrConflict, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %w", flotilla.ErrInvalid, err)
	case errors.As(err, &throttle), errors.As(err, &quota):
		return fmt.Errorf("%w: %w", flotilla.ErrThrottled, err)
	}
	return err
}
