package awsecs

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// The two ClientExceptions ECS tells apart only by message: the type is
// required, then the message.
func TestClientExceptionsByTypeThenMessage(t *testing.T) {
	missing := &types.ClientException{Message: aws.String("Unable to describe task definition.")}
	concurrent := &types.ClientException{Message: aws.String("Too many concurrent attempts to create a new revision of the specified family.")}
	other := &types.ClientException{Message: aws.String("The specified cluster is inactive.")}
	untyped := &smithy.GenericAPIError{Code: "ServerException", Message: "Unable to describe task definition."}
	cases := []struct {
		err                 error
		missing, concurrent bool
	}{
		{missing, true, false},
		{fmt.Errorf("describe: %w", missing), true, false},
		{concurrent, false, true},
		{other, false, false},
		{untyped, false, false}, // the right words under another error are not it
	}
	for _, c := range cases {
		if got := isMissingTaskDefinition(c.err); got != c.missing {
			t.Errorf("isMissingTaskDefinition(%v) = %v", c.err, got)
		}
		if got := isConcurrentRevision(c.err); got != c.concurrent {
			t.Errorf("isConcurrentRevision(%v) = %v", c.err, got)
		}
	}
}
