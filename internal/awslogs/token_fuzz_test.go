package awslogs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// FuzzLogToken hands the CloudWatch log reader any next_token a client may
// send, against the CloudWatch Logs fake: it never panics, and a token it
// refuses is ErrInvalid (a 400, not a 500), including tokens that decode
// but carry a CloudWatch token CloudWatch does not know.
func FuzzLogToken(f *testing.F) {
	logs := awsfake.NewLogs(awsfake.LogsOptions{})
	url := awsfake.Serve(f, logs)
	ac, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		f.Fatal(err)
	}
	rd := awslogs.New(cloudwatchlogs.NewFromConfig(ac, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = &url }), awslogs.Config{LogGroup: group})
	logs.Write(group, "flotilla/job/t1", t0, "one", "two", "three")
	logs.Write(group, "flotilla/job/t2", t0, "four")
	r := runWith("t1", "t2")
	first, err := rd.ReadLogs(context.Background(), r, flotilla.LogQuery{Limit: 1})
	if err != nil {
		f.Fatal(err)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{first.NextToken, enc(`{"v":1,"a":1}`), enc(`{"v":1,"a":2,"t":""}`), enc(`{"v":1,"a":3}`),
		enc(`{"v":1,"a":1,"t":"f/0"}`), enc(`{"v":1,"a":-1}`), enc(`{"v":2,"a":1}`), enc(`{}`), enc(`null`), "not-a-token!", "e30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == "" {
			return // the start of the stream, not a token
		}
		_, err := rd.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: tok, Limit: 2})
		if err != nil && !errors.Is(err, flotilla.ErrInvalid) {
			t.Fatalf("token %q: %v, want ErrInvalid", tok, err)
		}
	})
}
