package awsecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// MaxOverridesChars is RunTask's limit on overrides: "A total of 8192
// characters are allowed for overrides. This limit includes the JSON
// formatting characters of the override structure." (ECS API Reference,
// RunTask, overrides).
const MaxOverridesChars = 8192

// errMeasured stops a RunTask that was only serialized to be measured.
var errMeasured = errors.New("awsecs: request measured, not sent")

// OverridesChars is the length of the overrides RunTask would send for r,
// measured on the request the SDK serializes (which is then not sent).
func (e *Executor) OverridesChars(ctx context.Context, r flotilla.Run) (int, error) {
	var body []byte
	capture := func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("flotillaMeasureOverrides",
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					if s := req.GetStream(); s != nil {
						body, _ = io.ReadAll(s)
					}
				}
				return middleware.BuildOutput{}, middleware.Metadata{}, errMeasured
			}), middleware.After)
	}
	_, err := e.client.RunTask(ctx, e.runTaskInput(r, "measure"), func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, capture)
	})
	if !errors.Is(err, errMeasured) {
		return 0, fmt.Errorf("measure the overrides of run %s: %w", r.ID, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return 0, fmt.Errorf("measure the overrides of run %s: %w", r.ID, err)
	}
	return len(fields["overrides"]), nil
}

// CheckLaunch refuses a run whose overrides RunTask would refuse, naming
// the field that takes the most room.
func (e *Executor) CheckLaunch(ctx context.Context, r flotilla.Run) error {
	if err := CheckSecrets(e.cfg.SecretsPrefix, "secrets", r.Secrets); err != nil {
		return err
	}
	if err := CheckNotifySecrets(e.cfg.SecretsPrefix, r.Notify); err != nil {
		return err
	}
	n, err := e.OverridesChars(ctx, r)
	if err != nil {
		return err
	}
	if n <= MaxOverridesChars {
		return nil
	}
	envChars := 0
	for k, v := range r.Env {
		envChars += len(k) + len(v) + len(`{"name":"","value":""},`)
	}
	field, size := "env", envChars
	if len(r.Command) > envChars {
		field, size = "command", len(r.Command)
	}
	return flotilla.Invalid(field, "the command and env make ECS RunTask overrides of %d characters, over the %d ECS allows (JSON included); %s takes %d of them: pass large values through a file, the image or a secret",
		n, MaxOverridesChars, field, size)
}

// CheckLaunch checks r on its cluster's executor.
func (c Clusters) CheckLaunch(ctx context.Context, r flotilla.Run) error {
	e, err := c.executor(r)
	if err != nil {
		return err
	}
	return e.CheckLaunch(ctx, r)
}
