// Command notifier is the Lambda function an EventBridge rule invokes with
// the "Flotilla Run State Change" events of runs that ended and name notify
// targets: it POSTs each webhook (signed with its key from SSM or Secrets
// Manager), e-mails each address through SES, and writes each outcome into
// the run's life story.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/flotilla-run/flotilla/internal/awsnotify"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/notify"
)

func main() {
	w, log := awswire.ForLambda(context.Background())
	c := w.Config
	endpoint := awswire.Endpoint
	keys := awsnotify.Keys{
		SSM:            ssm.NewFromConfig(w.AWS, func(o *ssm.Options) { o.BaseEndpoint = endpoint(c.SSMEndpoint) }),
		SecretsManager: secretsmanager.NewFromConfig(w.AWS, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint(c.SecretsManagerEndpoint) }),
	}
	d := &notify.Deliverer{Store: w.Store, Log: log, SigningKey: keys.SigningKey, UIURL: c.UIURL,
		NoMail: "this deployment has no sender (cdk.json flotilla:notify_from, an address or domain verified in SES)"}
	if c.NotifyFrom != "" {
		d.Mailer = awsnotify.Mailer{From: c.NotifyFrom,
			SES: sesv2.NewFromConfig(w.AWS, func(o *sesv2.Options) { o.BaseEndpoint = endpoint(c.SESEndpoint) })}
	}
	lambda.Start(func(ctx context.Context, ev events.CloudWatchEvent) error {
		return handle(ctx, d, ev)
	})
}

// handle delivers one run change. A malformed event is an error (EventBridge
// retries it, then the dead-letter queue keeps it).
func handle(ctx context.Context, d *notify.Deliverer, ev events.CloudWatchEvent) error {
	if ev.DetailType != flotilla.RunChangeDetailType || ev.Source != flotilla.RunChangeSource {
		return nil // not ours: the rule should not have sent it
	}
	var c flotilla.RunChange
	if err := json.Unmarshal(ev.Detail, &c); err != nil || c.RunID == "" {
		return fmt.Errorf("notifier: event %s has no run change: %v", ev.ID, err)
	}
	if !c.Terminal || c.Notify == 0 {
		return nil
	}
	return d.Deliver(ctx, c)
}
