package flotilla

import (
	"context"
	"time"
)

// RunChangeDetailType and RunChangeSource name a run's status change when
// it is published as an EventBridge event (deployed: on the account's
// default bus, so a rule can route it anywhere). Sources starting with
// "aws." are AWS's own (EventBridge User Guide, "Amazon EventBridge
// events": custom events may use any other source).
const (
	RunChangeSource     = "flotilla"
	RunChangeDetailType = "Flotilla Run State Change"
)

// RunChange is a run's status change, as published: its "detail". Fields
// are added, never renamed or removed (the schema is documented in
// docs/notifications.md).
type RunChange struct {
	RunID        string     `json:"run_id"`
	DefinitionID string     `json:"definition_id"`
	Alias        string     `json:"alias"`
	Revision     int        `json:"revision"`
	Cluster      string     `json:"cluster"`
	Owner        string     `json:"owner"`
	OwnerName    string     `json:"owner_name,omitempty"`
	ScheduleID   string     `json:"schedule_id,omitempty"`
	Tags         []string   `json:"tags"`
	Status       RunStatus  `json:"status"`
	Terminal     bool       `json:"terminal"`
	ReasonCode   ReasonCode `json:"reason_code,omitempty"`
	StatusReason string     `json:"status_reason"`
	ExitCode     *int       `json:"exit_code,omitempty"`
	CostUSD      *float64   `json:"cost_usd,omitempty"`
	Attempt      int        `json:"attempt"`
	MaxAttempts  int        `json:"max_attempts"`
	Time         time.Time  `json:"time"`
	// Notify is how many targets the run names (not the targets: webhook
	// URLs often hold tokens, and the bus is readable by every rule).
	Notify int `json:"notify,omitempty"`
	// Links are where a person reads more: the run in the UI ("run", when
	// the UI's address is known) and in the API ("api", its path).
	Links map[string]string `json:"links"`
}

// NewRunChange describes r's current status; uiURL, when set, is the web
// UI's address for the run's link.
func NewRunChange(r Run, at time.Time, uiURL string) RunChange {
	links := map[string]string{"api": "/v1/runs/" + r.ID}
	if uiURL != "" {
		links["run"] = uiURL + "/runs/" + r.ID
	}
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return RunChange{RunID: r.ID, DefinitionID: r.DefinitionID, Alias: r.Alias, Revision: r.Revision, Cluster: r.Cluster,
		Owner: r.Owner, OwnerName: r.OwnerName, ScheduleID: r.ScheduleID, Tags: tags,
		Status: r.Status, Terminal: r.Status.Terminal(), ReasonCode: r.ReasonCode, StatusReason: r.StatusReason,
		ExitCode: r.ExitCode, CostUSD: r.CostUSD, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Time: at.UTC(), Links: links,
		Notify: len(r.Notify)}
}

// RunChangePublisher tells the world that runs changed status. Publishing
// is best effort and must not hold up the change: the change is already
// stored when it is called.
type RunChangePublisher interface {
	PublishRunChanges(ctx context.Context, changes []RunChange) error
}
