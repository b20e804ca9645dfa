//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// withDeadLetterQueue gives queue a FIFO dead-letter queue after
// maxReceive receives, as the stack does, and returns its URL.
func withDeadLetterQueue(t *testing.T, c *sqs.Client, queue string, maxReceive int) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("dlq-%d.fifo", time.Now().UnixNano())
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{string(types.QueueAttributeNameFifoQueue): "true"}})
	if err != nil {
		t.Fatalf("create the dead-letter queue: %v", err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     fmt.Sprint(maxReceive),
	})
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queue),
		Attributes: map[string]string{string(types.QueueAttributeNameRedrivePolicy): string(policy)}}); err != nil {
		t.Fatalf("set the redrive policy: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

// TestLambdasPoisonMessage: a message that is not a run's fails in the
// dispatcher, with every later message of its batch (FIFO order); it goes
// to the dead-letter queue after its receives, and the runs queued behind
// it are dispatched and end, each with one task.
func TestLambdasPoisonMessage(t *testing.T) {
	begin := time.Now()
	s := startStack(t, 2)
	t.Logf("stack up in %v", time.Since(begin).Round(time.Millisecond))
	ctx := context.Background()
	start := time.Now()
	if _, err := s.source.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.source.queueURL),
		MessageBody: aws.String(`{"not":"a flotilla message"}`), MessageGroupId: aws.String("poison"),
		MessageDeduplicationId: aws.String("poison-1")}); err != nil {
		t.Fatal(err)
	}
	def, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "after-poison", "image": "alpine:3", "command": "echo fine", "cpu": 256, "memory": 512,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for range 5 {
		r, err := s.api.Launch(ctx, map[string]any{"definition": def.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for id := range ids {
		for {
			r, err := s.api.GetRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status.Terminal() {
				if r.Status != flotilla.StatusSucceeded {
					t.Errorf("run %s: %s (%s)", id, r.Status, r.StatusReason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s still %s (%s) after 60 s", id, r.Status, r.StatusReason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := len(s.ecs.TasksStarted(id)); n != 1 {
			t.Errorf("run %s: %d tasks, want 1", id, n)
		}
	}
	t.Logf("runs ended %v after the poison message", time.Since(start).Round(time.Millisecond))
	// The poison message is in the dead-letter queue.
	var dead []string
	for time.Now().Before(deadline) && len(dead) == 0 {
		out, err := s.source.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			dead = append(dead, aws.ToString(m.Body))
		}
	}
	t.Logf("dead-lettered %v after it was sent", time.Since(start).Round(time.Millisecond))
	if len(dead) != 1 || dead[0] != `{"not":"a flotilla message"}` {
		t.Errorf("dead-letter queue holds %q, want the poison message only", dead)
	}
	s.source.mu.Lock()
	defer s.source.mu.Unlock()
	if s.source.reported == 0 {
		t.Error("the dispatcher reported no failure")
	}
	t.Cleanup(func() { t.Logf("test over after %v", time.Since(begin).Round(time.Millisecond)) })
	t.Logf("dispatcher: %d batches, %d messages deleted, %d reported failed", s.source.batches, s.source.deleted, s.source.reported)
}
