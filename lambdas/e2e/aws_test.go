//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// gateway plays an API Gateway HTTP API with a JWT authorizer in front of
// the api function: each request becomes a payload 2.0 event carrying the
// claims of its bearer token; a request without a known token gets the
// authorizer's 401, except the public health route.
type gateway struct {
	fn     *function
	tokens map[string]map[string]string // bearer token → JWT claims
	seq    int64
	mu     sync.Mutex
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.seq++
	id := fmt.Sprintf("req-%06d", g.seq)
	g.mu.Unlock()
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: headers, Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", AccountID: "123456789012", Stage: "$default", RequestID: id,
			APIID: "e2eapi", DomainName: r.Host, DomainPrefix: "e2eapi", Time: time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: host, UserAgent: r.UserAgent(),
			},
		},
	}
	if r.URL.Path != "/v1/health" {
		claims, ok := g.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"Unauthorized"}`)
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: nil},
		}
	}
	out, err := g.fn.invoke(r.Context(), ev)
	if err != nil {
		// What API Gateway answers when the integration fails.
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	respBody := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if respBody, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

// eventSource plays the SQS event source mapping of one FIFO queue: it
// receives batches of up to ten, invokes the dispatcher, and deletes every
// message the response did not report as failed; reported ones come back
// after the visibility timeout.
type eventSource struct {
	t        *testing.T
	fn       *function
	client   *sqs.Client
	queueURL string

	mu       sync.Mutex
	batches  int
	reported int
	deleted  int
}

func (s *eventSource) run(ctx context.Context) {
	arn := "arn:aws:sqs:us-east-1:123456789012:" + s.queueURL[strings.LastIndex(s.queueURL, "/")+1:]
	for ctx.Err() == nil {
		out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() == nil {
				s.t.Logf("event source: receive: %v", err)
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, EventSource: "aws:sqs",
				EventSourceARN: arn, AWSRegion: "us-east-1",
			})
		}
		var resp events.SQSEventResponse
		raw, err := s.fn.invoke(ctx, ev)
		if err == nil {
			err = json.Unmarshal(raw, &resp)
		}
		failed := map[string]bool{}
		if err != nil {
			// A failed invocation returns the whole batch.
			if ctx.Err() == nil {
				s.t.Logf("event source: dispatcher: %v", err)
			}
			for _, r := range ev.Records {
				failed[r.MessageId] = true
			}
		}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, r := range ev.Records {
			if failed[r.MessageId] {
				continue
			}
			if _, err := s.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: aws.String(r.ReceiptHandle)}); err != nil && ctx.Err() == nil {
				s.t.Errorf("event source: delete %s: %v", r.MessageId, err)
			}
		}
		s.mu.Lock()
		s.batches++
		s.reported += len(failed)
		s.deleted += len(ev.Records) - len(failed)
		s.mu.Unlock()
	}
}

// eventBus plays the EventBridge rule that targets the events function:
// each ECS task state change is delivered in order, and retried while the
// function returns an error.
type eventBus struct {
	t  *testing.T
	fn *function

	mu        sync.Mutex
	delivered int
	retried   int
	lost      []string
}

func (b *eventBus) deliver(ev []byte) {
	if !matchesRule(ev) {
		return
	}
	for try := 1; ; try++ {
		_, err := b.fn.invoke(context.Background(), json.RawMessage(ev))
		b.mu.Lock()
		if err == nil {
			b.delivered++
			b.mu.Unlock()
			return
		}
		if try == 20 {
			b.lost = append(b.lost, fmt.Sprintf("%s: %v", ev, err))
			b.mu.Unlock()
			return
		}
		b.retried++
		b.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// matchesRule is the stack's EventBridge rule (infra/stack.go): task state
// changes of Flotilla's tasks (startedBy run_…) whose lastStatus is RUNNING
// or STOPPED.
func matchesRule(raw []byte) bool {
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			StartedBy  string `json:"startedBy"`
			LastStatus string `json:"lastStatus"`
		} `json:"detail"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return false
	}
	return ev.Source == "aws.ecs" && ev.DetailType == "ECS Task State Change" && strings.HasPrefix(ev.Detail.StartedBy, "run_") &&
		(ev.Detail.LastStatus == "RUNNING" || ev.Detail.LastStatus == "STOPPED")
}

// maxConcurrentTasks replays the task state changes and returns the most
// tasks that were not yet STOPPED at once.
func maxConcurrentTasks(t *testing.T, evs [][]byte) int {
	t.Helper()
	live := map[string]bool{}
	most := 0
	for _, raw := range evs {
		var ev struct {
			Detail struct {
				TaskArn    string `json:"taskArn"`
				LastStatus string `json:"lastStatus"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Detail.LastStatus == "STOPPED" {
			delete(live, ev.Detail.TaskArn)
		} else {
			live[ev.Detail.TaskArn] = true
		}
		most = max(most, len(live))
	}
	return most
}
