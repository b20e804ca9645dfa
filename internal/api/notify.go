package api

import (
	"net/http"
	"net/url"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// maskNotify hides what a webhook URL carries beyond its host from callers
// other than its owner and the admins: chat webhooks (Slack, Teams,
// Discord) hold their token in the path or the query, and every member may
// read every run and definition. What remains says where runs are told.
func (s *server) maskNotify(r *http.Request, caller, owner string, targets []flotilla.NotifyTarget) []flotilla.NotifyTarget {
	if len(targets) == 0 || s.isAdmin(r) || (owner != "" && caller == owner) {
		return targets
	}
	out := make([]flotilla.NotifyTarget, len(targets))
	for i, t := range targets {
		out[i] = t
		if t.Webhook == "" {
			continue
		}
		if u, err := url.Parse(t.Webhook); err == nil && u.Host != "" {
			out[i].Webhook = u.Scheme + "://" + u.Host + "/…"
		} else {
			out[i].Webhook = "…"
		}
	}
	return out
}

func (s *server) maskRun(r *http.Request, caller string, run flotilla.Run) flotilla.Run {
	run.Notify = s.maskNotify(r, caller, run.Owner, run.Notify)
	return run
}

func (s *server) maskDefinition(r *http.Request, caller string, d flotilla.Definition) flotilla.Definition {
	d.Notify = s.maskNotify(r, caller, d.Owner, d.Notify)
	return d
}
