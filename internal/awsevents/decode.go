// Package awsevents decodes the EventBridge "ECS Task State Change" events
// of the tasks Flotilla started into flotilla.TaskEvents.
//
// An event's detail mirrors DescribeTasks' Task with ISO-8601 times, so it
// is decoded into an ecs types.Task and mapped by awsecs.TaskEventOf, the
// same function the sweep's DescribeTasks answers go through. The run id is
// detail.startedBy; the attempt comes from detail.group
// (flotilla-attempt-<n>), since events carry no tags. Events arrive at least
// once and out of order: the consumer orders them by Version
// (detail.version) and its conditional status writes.
package awsevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// ErrIgnored means the event is not about a task Flotilla started (another
// detail-type, or a startedBy without the run prefix): skip it.
var ErrIgnored = errors.New("not a task state change of a Flotilla run")

// The envelope values of a task state change.
const (
	Source     = "aws.ecs"
	DetailType = "ECS Task State Change"
)

// Decoder decodes task state change events. The zero value uses the
// defaults below.
type Decoder struct {
	// Container names the job's essential container (default "job").
	Container string
	// RunPrefix is the startedBy prefix of Flotilla's tasks (default "run_").
	RunPrefix string
	// Clusters maps ECS cluster names to Flotilla cluster names; an ECS
	// cluster not in it keeps its own name in TaskEvent.Cluster.
	Clusters map[string]string
}

// Decode maps one event (the JSON EventBridge delivers) to a TaskEvent.
// ErrIgnored: not Flotilla's; flotilla.ErrInvalid: malformed.
func (d Decoder) Decode(event []byte) (flotilla.TaskEvent, error) {
	var ev envelope
	if err := json.Unmarshal(event, &ev); err != nil {
		return flotilla.TaskEvent{}, fmt.Errorf("decode ECS task state change: %w: %v", flotilla.ErrInvalid, err)
	}
	if ev.Source != Source || ev.DetailType != DetailType {
		return flotilla.TaskEvent{}, fmt.Errorf("event %s (%s, %s): %w", ev.ID, ev.Source, ev.DetailType, ErrIgnored)
	}
	if ev.Detail == nil {
		return flotilla.TaskEvent{}, fmt.Errorf("decode event %s: no detail: %w", ev.ID, flotilla.ErrInvalid)
	}
	prefix := d.RunPrefix
	if prefix == "" {
		prefix = "run_"
	}
	if !strings.HasPrefix(ev.Detail.StartedBy, prefix) {
		return flotilla.TaskEvent{}, fmt.Errorf("event %s: task started by %q: %w", ev.ID, ev.Detail.StartedBy, ErrIgnored)
	}
	if ev.Detail.TaskArn == "" || ev.Detail.LastStatus == "" {
		return flotilla.TaskEvent{}, fmt.Errorf("decode event %s: no taskArn or lastStatus: %w", ev.ID, flotilla.ErrInvalid)
	}
	container := d.Container
	if container == "" {
		container = awsecs.DefaultContainerName
	}
	out := awsecs.TaskEventOf(ev.Detail.task(), container)
	if name, ok := d.Clusters[out.Cluster]; ok {
		out.Cluster = name
	}
	if out.At.IsZero() {
		out.At = parseTime(ev.Time).UTC()
	}
	return out, nil
}

type envelope struct {
	ID         string  `json:"id"`
	DetailType string  `json:"detail-type"`
	Source     string  `json:"source"`
	Time       string  `json:"time"`
	Detail     *detail `json:"detail"`
}

// detail holds the fields Flotilla reads; ECS adds fields over time, and
// unknown ones are ignored.
type detail struct {
	TaskArn            string      `json:"taskArn"`
	ClusterArn         string      `json:"clusterArn"`
	StartedBy          string      `json:"startedBy"`
	Group              string      `json:"group"`
	LastStatus         string      `json:"lastStatus"`
	DesiredStatus      string      `json:"desiredStatus"`
	StopCode           string      `json:"stopCode"`
	LaunchType         string      `json:"launchType"`
	CapacityProvider   string      `json:"capacityProviderName"`
	StoppedReason      string      `json:"stoppedReason"`
	Version            int64       `json:"version"`
	CreatedAt          string      `json:"createdAt"`
	PullStartedAt      string      `json:"pullStartedAt"`
	StartedAt          string      `json:"startedAt"`
	StoppingAt         string      `json:"stoppingAt"`
	ExecutionStoppedAt string      `json:"executionStoppedAt"`
	StoppedAt          string      `json:"stoppedAt"`
	Containers         []container `json:"containers"`
}

type container struct {
	Name       string `json:"name"`
	LastStatus string `json:"lastStatus"`
	ExitCode   *int32 `json:"exitCode"`
	Reason     string `json:"reason"`
}

func (d *detail) task() types.Task {
	t := types.Task{
		TaskArn: aws.String(d.TaskArn), ClusterArn: aws.String(d.ClusterArn), StartedBy: aws.String(d.StartedBy),
		Group: aws.String(d.Group), LastStatus: aws.String(d.LastStatus), DesiredStatus: aws.String(d.DesiredStatus),
		StopCode: types.TaskStopCode(d.StopCode), StoppedReason: aws.String(d.StoppedReason), Version: d.Version,
		LaunchType: types.LaunchType(d.LaunchType), CapacityProviderName: aws.String(d.CapacityProvider),
		CreatedAt: timePtr(d.CreatedAt), PullStartedAt: timePtr(d.PullStartedAt), StartedAt: timePtr(d.StartedAt),
		StoppingAt: timePtr(d.StoppingAt), ExecutionStoppedAt: timePtr(d.ExecutionStoppedAt), StoppedAt: timePtr(d.StoppedAt),
	}
	for _, c := range d.Containers {
		t.Containers = append(t.Containers, types.Container{
			Name: aws.String(c.Name), LastStatus: aws.String(c.LastStatus), ExitCode: c.ExitCode, Reason: aws.String(c.Reason),
		})
	}
	return t
}

// parseTime reads an ISO-8601 time; a malformed one is treated as absent.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func timePtr(s string) *time.Time {
	t := parseTime(s)
	if t.IsZero() {
		return nil
	}
	return &t
}
