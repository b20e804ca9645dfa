// Package awscognito answers, from the Cognito user pool, whether a
// schedule's owner may still launch runs (schedules.Members).
package awscognito

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// Members looks owners up in one user pool. An owner is the sub of their
// tokens (lambdas/api), which never changes for a user.
type Members struct {
	client *cognitoidentityprovider.Client
	pool   string
}

// New returns Members on the user pool.
func New(client *cognitoidentityprovider.Client, userPoolID string) *Members {
	return &Members{client: client, pool: userPoolID}
}

// FromConfig makes the client (endpoint: an override for tests, "" for
// AWS) and returns Members on the user pool.
func FromConfig(cfg aws.Config, endpoint, userPoolID string) *Members {
	return New(cognitoidentityprovider.NewFromConfig(cfg, func(o *cognitoidentityprovider.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), userPoolID)
}

// subPattern is a Cognito sub (a UUID); nothing else is put in a filter.
var subPattern = regexp.MustCompile(`^[0-9a-fA-F-]{1,64}$`)

// MayLaunch reports whether owner is a user of the pool whose account is
// enabled. ListUsers can filter on the sub attribute (Cognito API
// Reference, ListUsers: Filter, `sub = "…"`); a disabled user's Enabled is
// false, and a deleted user is not listed.
func (m *Members) MayLaunch(ctx context.Context, owner string) (bool, error) {
	if !subPattern.MatchString(owner) {
		return false, nil // not a user of the pool (e.g. an e-mail from before owners were subs)
	}
	out, err := m.client.ListUsers(ctx, &cognitoidentityprovider.ListUsersInput{
		UserPoolId: aws.String(m.pool), Filter: aws.String(fmt.Sprintf("sub = %q", owner)), Limit: aws.Int32(1),
	})
	if err != nil {
		return false, fmt.Errorf("look up user %s: %w", owner, err)
	}
	return len(out.Users) == 1 && out.Users[0].Enabled, nil
}

var _ interface {
	MayLaunch(context.Context, string) (bool, error)
} = (*Members)(nil)
