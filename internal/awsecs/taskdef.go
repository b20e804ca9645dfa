package awsecs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// taskDefinition returns the ARN of the task definition r runs on,
// registering it only when its family's latest revision does not match.
// Concurrent Starts of one definition wait for one registration.
func (e *Executor) taskDefinition(ctx context.Context, r flotilla.Run) (string, error) {
	in := e.registerInput(r)
	spec := specOf(in)
	for {
		e.mu.Lock()
		if arn, ok := e.defs[spec]; ok {
			e.mu.Unlock()
			return arn, nil
		}
		if ch, ok := e.inflight[spec]; ok {
			e.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan struct{})
		e.inflight[spec] = ch
		e.mu.Unlock()

		arn, err := e.lookupOrRegister(ctx, in, spec)
		e.mu.Lock()
		delete(e.inflight, spec)
		if err == nil {
			e.defs[spec] = arn
		}
		close(ch)
		e.mu.Unlock()
		return arn, err
	}
}

func (e *Executor) lookupOrRegister(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, spec string) (string, error) {
	family := aws.ToString(in.Family)
	for try := 0; ; try++ {
		out, err := e.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(family), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
		})
		switch {
		case err == nil && out.TaskDefinition != nil && out.TaskDefinition.Status == types.TaskDefinitionStatusActive && tagValue(out.Tags, TagSpec) == spec:
			return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
		case err != nil && !isMissingTaskDefinition(err):
			return "", fmt.Errorf("describe task definition %s: %w", family, translate(err))
		}
		reg, err := e.client.RegisterTaskDefinition(ctx, in)
		if err == nil {
			return aws.ToString(reg.TaskDefinition.TaskDefinitionArn), nil
		}
		// Another process is registering the same family: look again.
		if try < 3 && isConcurrentRevision(err) {
			select {
			case <-time.After(time.Duration(try+1) * 300 * time.Millisecond):
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return "", fmt.Errorf("register task definition %s: %w", family, translate(err))
	}
}

func (e *Executor) registerInput(r flotilla.Run) *ecs.RegisterTaskDefinitionInput {
	compat := types.CompatibilityFargate
	if e.Engine() == flotilla.EngineEC2 {
		compat = types.CompatibilityEc2
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(FamilyOf(e.cfg.FamilyPrefix, r.DefinitionID)),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:      aws.String(e.cfg.ContainerName),
			Image:     aws.String(r.Image),
			Essential: aws.Bool(true),
			LogConfiguration: &types.LogConfiguration{
				LogDriver: types.LogDriverAwslogs,
				Options: map[string]string{
					"awslogs-group":         e.cfg.LogGroup,
					"awslogs-region":        e.cfg.Region,
					"awslogs-stream-prefix": e.cfg.LogStreamPrefix,
				},
			},
		}},
		// Task-level cpu and memory are required on Fargate; every run
		// overrides them.
		Cpu:                     aws.String(strconv.Itoa(r.CPU)),
		Memory:                  aws.String(strconv.Itoa(r.Memory)),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{compat},
		Tags: []types.Tag{
			{Key: aws.String(TagDefinition), Value: aws.String(r.DefinitionID)},
			{Key: aws.String(TagRevision), Value: aws.String(strconv.Itoa(r.Revision))},
		},
	}
	in.ContainerDefinitions[0].Secrets = containerSecrets(r.Secrets)
	// The platform the image is built for (ECS Developer Guide, task
	// definition parameters, runtimePlatform): without it Fargate runs
	// X86_64. Set only for arm64, so x86 definitions keep their revisions.
	if r.Architecture == flotilla.ArchARM {
		in.RuntimePlatform = &types.RuntimePlatform{
			CpuArchitecture: types.CPUArchitectureArm64, OperatingSystemFamily: types.OSFamilyLinux,
		}
	}
	if e.cfg.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(e.cfg.ExecutionRoleARN)
	}
	// The definition's own role, else the deployment's shared one. It is in
	// the task definition (and so in its spec hash), not in the overrides.
	if role := cmp.Or(r.TaskRoleARN, e.cfg.TaskRoleARN); role != "" {
		in.TaskRoleArn = aws.String(role)
	}
	in.Tags = append(in.Tags, types.Tag{Key: aws.String(TagSpec), Value: aws.String(specOf(in))})
	return in
}

// containerSecrets turns a run's secret references into the container's
// secrets, sorted by name: ECS reads each value with the execution role when
// the task starts, so no value passes through Flotilla or the overrides.
func containerSecrets(refs map[string]string) []types.Secret {
	if len(refs) == 0 {
		return nil
	}
	out := make([]types.Secret, 0, len(refs))
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		_, from, ok := flotilla.SecretSource(refs[name])
		if !ok {
			// Validation rejects other forms; pass it on as is for ECS to refuse.
			from = refs[name]
		}
		out = append(out, types.Secret{Name: aws.String(name), ValueFrom: aws.String(from)})
	}
	return out
}

// specOf hashes what a task definition fixes for its runs: everything but
// the per-run overrides and the bookkeeping tags.
func specOf(in *ecs.RegisterTaskDefinitionInput) string {
	c := in.ContainerDefinitions[0]
	o := c.LogConfiguration.Options
	parts := []string{"v1", aws.ToString(in.Family), aws.ToString(c.Name), aws.ToString(c.Image),
		o["awslogs-group"], o["awslogs-region"], o["awslogs-stream-prefix"],
		aws.ToString(in.ExecutionRoleArn), aws.ToString(in.TaskRoleArn), string(in.NetworkMode), string(in.RequiresCompatibilities[0])}
	// Secrets join the hash only when present, so definitions without any
	// keep the revisions they were registered with.
	for _, sec := range c.Secrets {
		parts = append(parts, "secret", aws.ToString(sec.Name), aws.ToString(sec.ValueFrom))
	}
	if p := in.RuntimePlatform; p != nil {
		parts = append(parts, "platform", string(p.CpuArchitecture), string(p.OperatingSystemFamily))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// isMissingTaskDefinition: DescribeTaskDefinition of a family that has no
// revision. ECS answers with its generic ClientException (no code of its
// own: ECS API Reference, DescribeTaskDefinition, Errors), so the message
// is all that tells it apart; the exception type is checked first.
func isMissingTaskDefinition(err error) bool {
	var ce *types.ClientException
	return errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.ErrorMessage()), "unable to describe task definition")
}

// isConcurrentRevision: RegisterTaskDefinition racing another registration
// of the same family, again a ClientException told apart only by its
// message ("Too many concurrent attempts to create a new revision of the
// specified family").
func isConcurrentRevision(err error) bool {
	var ce *types.ClientException
	return errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.ErrorMessage()), "too many concurrent attempts")
}
