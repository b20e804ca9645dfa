package awssqs

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// maxIDLen is SQS's limit for MessageGroupId and MessageDeduplicationId.
const maxIDLen = 128

// GroupID returns the message group of an owner's messages: the owner
// itself when SQS accepts it as a group id, "_none" for no owner.
func GroupID(owner string) string {
	if owner == "" {
		return noOwner
	}
	return sqsID(owner)
}

// DedupID returns m's deduplication id before SQS's character rules apply:
// m.DedupID, or "run_id#attempt" when it is empty.
func DedupID(m flotilla.Message) string {
	if m.DedupID != "" {
		return m.DedupID
	}
	return m.RunID + "#" + strconv.Itoa(m.Attempt)
}

// sqsID returns s when SQS accepts it as a group or deduplication id (1 to
// 128 characters from '!' to '~'); otherwise up to 63 of its characters,
// others replaced by '_', then '~' and the hex SHA-256 of s, so that
// different inputs keep different ids.
func sqsID(s string) string {
	if s != "" && len(s) <= maxIDLen && strings.IndexFunc(s, notAllowed) < 0 {
		return s
	}
	const prefix = maxIDLen - 1 - 2*sha256.Size
	var b strings.Builder
	b.Grow(maxIDLen)
	for _, r := range s {
		if b.Len() == prefix {
			break
		}
		if notAllowed(r) {
			r = '_'
		}
		b.WriteRune(r)
	}
	sum := sha256.Sum256([]byte(s))
	b.WriteByte('~')
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

func notAllowed(r rune) bool { return r < '!' || r > '~' }
