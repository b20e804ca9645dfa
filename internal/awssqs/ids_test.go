package awssqs

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

func TestSQSIDs(t *testing.T) {
	long := strings.Repeat("x", 129)
	for _, tc := range []struct {
		name, in string
		same     bool   // kept as is
		prefix   string // else: the readable part before "~<sha256>"
	}{
		{"plain", "alice", true, ""},
		{"punctuation", `run_1#2!"$%&'()*+,-./:;<=>?@[\]^_{|}~`, true, ""},
		{"exactly 128", long[:128], true, ""},
		{"too long", long, false, long[:63]},
		{"space", "a b", false, "a_b"},
		{"unicode", "zoë@example.com", false, "zo_@example.com"},
		{"control", "a\tb", false, "a_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sqsID(tc.in)
			if tc.same {
				if got != tc.in {
					t.Fatalf("sqsID(%q) = %q, want it unchanged", tc.in, got)
				}
				return
			}
			if len(got) > maxIDLen || strings.IndexFunc(got, notAllowed) >= 0 {
				t.Fatalf("sqsID(%q) = %q: not a valid SQS id", tc.in, got)
			}
			if !strings.HasPrefix(got, tc.prefix+"~") || len(got) != len(tc.prefix)+65 {
				t.Fatalf("sqsID(%q) = %q, want %q~<64 hex>", tc.in, got, tc.prefix)
			}
			if got == sqsID(tc.in+" ") {
				t.Fatalf("sqsID(%q) and sqsID(%q) collide", tc.in, tc.in+" ")
			}
		})
	}
	if a, b := sqsID("a b"), sqsID("a\tb"); a == b {
		t.Fatalf("inputs with the same readable prefix collide: %q", a)
	}
}

func TestGroupAndDedupIDs(t *testing.T) {
	if g := GroupID(""); g != "_none" {
		t.Fatalf("GroupID(\"\") = %q", g)
	}
	if g := GroupID("alice"); g != "alice" {
		t.Fatalf("GroupID(alice) = %q", g)
	}
	if d := DedupID(flotilla.Message{RunID: "run_1", Attempt: 3}); d != "run_1#3" {
		t.Fatalf("default DedupID = %q, want run_1#3", d)
	}
	if d := DedupID(flotilla.Message{RunID: "run_1", Attempt: 3, DedupID: "x"}); d != "x" {
		t.Fatalf("DedupID with an explicit id = %q, want x", d)
	}
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{&types.QueueDoesNotExist{Message: aws.String("gone")}, flotilla.ErrNotFound},
		{&types.ReceiptHandleIsInvalid{Message: aws.String("bad")}, flotilla.ErrNotFound},
		{&types.RequestThrottled{Message: aws.String("slow down")}, flotilla.ErrThrottled},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, flotilla.ErrThrottled},
	} {
		if got := translate(tc.err); !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("translate(%T) = %v, want %v wrapping it", tc.err, got, tc.want)
		}
	}
	other := &smithy.GenericAPIError{Code: "InvalidParameterValue"}
	if got := translate(other); got != other {
		t.Errorf("translate(InvalidParameterValue) = %v, want it unchanged", got)
	}
}
