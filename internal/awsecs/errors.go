package awsecs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// RefusedError is ECS refusing a run for good: a failures[] reason that is
// not about capacity (ATTRIBUTE, LOCATION, …) or a refused parameter. It
// matches flotilla.ErrInvalid; the run fails with Reason.
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return "ECS refused to start the task: " + e.Reason }

// Is makes errors.Is(err, flotilla.ErrInvalid) true.
func (e *RefusedError) Is(target error) bool { return target == flotilla.ErrInvalid }

func (e *RefusedError) Unwrap() error { return e.Err }

// ClassifyFailure translates one entry of RunTask's failures[]: capacity
// (RESOURCE:*, AGENT, "Capacity is unavailable") is a *flotilla.CapacityError
// with WaitEngineCapacity; quota and limit messages one with
// WaitAccountQuota; anything else a *RefusedError.
func ClassifyFailure(f types.Failure) error {
	reason := aws.ToString(f.Reason)
	text := reason
	if d := aws.ToString(f.Detail); d != "" {
		text += " (" + d + ")"
	}
	lower := strings.ToLower(reason)
	switch {
	case strings.HasPrefix(reason, "RESOURCE:"):
		return &flotilla.CapacityError{Wait: flotilla.WaitEngineCapacity, Detail: "no container instance has enough " + resourceWord(reason) + " (" + text + ")"}
	case reason == "AGENT":
		return &flotilla.CapacityError{Wait: flotilla.WaitEngineCapacity, Detail: "the container instance's agent is disconnected: " + text}
	case strings.Contains(lower, "capacity is unavailable"), strings.Contains(lower, "insufficient capacity"):
		return &flotilla.CapacityError{Wait: flotilla.WaitEngineCapacity, Detail: "ECS has no capacity now: " + text}
	case strings.Contains(lower, "limit"), strings.Contains(lower, "quota"):
		return &flotilla.CapacityError{Wait: flotilla.WaitAccountQuota, Detail: "the account's ECS quota is reached: " + text}
	}
	return &RefusedError{Reason: text}
}

func resourceWord(reason string) string {
	switch strings.TrimPrefix(reason, "RESOURCE:") {
	case "CPU":
		return "CPU"
	case "MEMORY":
		return "memory"
	case "ENI":
		return "network interfaces"
	case "GPU":
		return "GPUs"
	case "PORTS", "PORTS_UDP":
		return "free ports"
	}
	return "resources"
}

var throttleCodes = []string{"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}

// translate maps a RunTask error that outlived the retryer to Flotilla's
// portable errors; what it does not recognise stays transient.
func translate(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	code, msg := api.ErrorCode(), strings.ToLower(api.ErrorMessage())
	switch {
	case code == "AccessDeniedException" && strings.Contains(msg, "iam:passrole"):
		// Registering or running a task definition passes its roles: IAM's
		// answer is "User: … is not authorized to perform: iam:PassRole on
		// resource: <role>" (IAM User Guide, "Grant a user permissions to
		// pass a role to an AWS service"). It will not change on a retry.
		return &RefusedError{Reason: "Flotilla may not give the job the role it names (task_role_arn): iam:PassRole was denied. " +
			"A deployment passes only roles whose name starts with its job role prefix (flotilla-job-<stage>-; cdk.json flotilla:job_role_prefix replaces flotilla-job-). AWS said: " + api.ErrorMessage(), Err: err}
	case isThrottle(code):
		return fmt.Errorf("%w: %w", flotilla.ErrThrottled, err)
	case code == "LimitExceededException",
		code == "ClientException" && (strings.Contains(msg, "quota") || strings.Contains(msg, "limit")):
		return &flotilla.CapacityError{Wait: flotilla.WaitAccountQuota, Detail: api.ErrorMessage()}
	case code == "InvalidParameterException", code == "ClientException", code == "ClusterNotFoundException",
		code == "PlatformUnknownException", code == "PlatformTaskDefinitionIncompatibilityException",
		code == "AccessDeniedException", code == "BlockedException", code == "UnsupportedFeatureException":
		return &RefusedError{Reason: code + ": " + api.ErrorMessage(), Err: err}
	}
	return err
}

// translateTaskErr maps StopTask, DescribeTasks and ListTasks errors.
func translateTaskErr(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch code := api.ErrorCode(); {
	case isThrottle(code):
		return fmt.Errorf("%w: %w", flotilla.ErrThrottled, err)
	case code == "InvalidParameterException" && strings.Contains(strings.ToLower(api.ErrorMessage()), "not found"),
		code == "ClusterNotFoundException":
		return fmt.Errorf("%w: %w", flotilla.ErrNotFound, err)
	}
	return err
}

func isThrottle(code string) bool {
	for _, c := range throttleCodes {
		if code == c {
			return true
		}
	}
	return false
}
