// Package awsclient builds the aws.Config every AWS adapter shares: the
// region, optional endpoint overrides for emulators and fakes, the SDK's
// standard retryer (throttling and 5xx with backoff) and a counter of the
// requests made per service and operation, so tests and benchmarks can
// report what a run lifecycle costs.
package awsclient

import (
	"context"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
)

// Options configure Load.
type Options struct {
	// Region defaults to the environment's (AWS_REGION), else us-east-1.
	Region string
	// StaticCredentials, when true, uses fixed dummy credentials: for
	// emulators and fakes, which do not check signatures.
	StaticCredentials bool
	// MaxAttempts bounds the retryer's attempts per call (default 5).
	MaxAttempts int
	// Counter, when set, counts every request attempt made.
	Counter *Counter
	// Recorder, when set, records the IAM requests of every call made.
	Recorder *Recorder
}

// Load returns an aws.Config with the standard retryer and the counter.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	maxAttempts := o.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = 5
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = maxAttempts
				so.MaxBackoff = 2e9 // 2 s: a Lambda must not sleep long on one call
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.StaticCredentials {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDFLOTILLA", "secret", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if o.Counter != nil {
		cfg.APIOptions = append(cfg.APIOptions, o.Counter.middleware)
	}
	if o.Recorder != nil {
		cfg.APIOptions = append(cfg.APIOptions, o.Recorder.middleware)
	}
	return cfg, nil
}

// Counter counts AWS requests (every attempt, retries included) by
// "service.Operation". It is safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{counts: map[string]int{}} }

func (c *Counter) middleware(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("flotillaRequestCounter",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.add(awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx))
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func (c *Counter) add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts.
func (c *Counter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Reset clears the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.mu.Unlock()
}

// Keys returns the counted keys, sorted.
func (c *Counter) Keys() []string {
	s := c.Snapshot()
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
